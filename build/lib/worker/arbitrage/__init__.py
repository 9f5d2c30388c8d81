"""Arbitrage scans: the pure engine and messages, the scan workflow, its store and its delivery to Telegram."""
