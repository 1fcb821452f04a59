"""Benchmarks: each one measures *ours* and *the anchor* side by side in one run and prints their ratio.

Add one by creating ``bench/bench_<topic>.py`` that calls :func:`register` at import time
(see bench/README.md).
``python -m bench [names...]`` imports every ``bench_*`` module and runs the selected benchmarks.
"""

from bench.registry import REGISTRY, Benchmark, register

__all__ = ["REGISTRY", "Benchmark", "register"]
