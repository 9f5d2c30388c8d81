"""Sentry Web API client, cleanup policy and the cleanup runner (DESIGN.md §6, §9)."""
