"""Code shared by the bot and the workers: settings, observability, database."""
