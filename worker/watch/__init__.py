"""Watch subscriptions: /watch, /unwatch and the periodic sweeps that tell subscribers about new deals."""
