"""DMarket's trading API: request signing, the shared rate limit and the HTTP client."""
