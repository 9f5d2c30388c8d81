"""Benchmarks: each ``bench/bench_*.py`` module has a ``main()`` that prints a table (see docs/performance.md).

``python -m bench`` runs them all; ``python -m bench.bench_<name>`` runs one.
"""
