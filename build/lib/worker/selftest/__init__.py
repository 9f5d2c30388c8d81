"""/sentry_info and /test_sentry on the worker's side: the test events and the report of what was sent."""
