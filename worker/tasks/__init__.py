"""Thin task adapters: they take ids and plain values and call plain functions that do the work."""
