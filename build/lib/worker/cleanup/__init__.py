"""The Sentry cleanup (DESIGN.md §6): pure policy, selection, audit, project lock, runner, job and report."""
