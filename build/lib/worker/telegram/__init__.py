"""Messages from workers to Telegram: the Bot API sender and the idempotent outbox."""
