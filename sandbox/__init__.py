"""Local stand-ins for DMarket, the Telegram Bot API and Sentry that speak the real wire protocols."""
