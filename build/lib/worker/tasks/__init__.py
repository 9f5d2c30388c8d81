"""Thin task adapters: they take the contract's plain values and call the feature code with the resources."""
