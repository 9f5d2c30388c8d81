"""Sentry alerts in Telegram (docs/alerts.md): tiers (pure), messages (pure), counters, the router, button actions."""
