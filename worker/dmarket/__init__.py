"""DMarket trading API: request signing, the shared rate limit, the HTTP client and the arbitrage engine."""
