"""The benchmark registry: a name -> :class:`Benchmark` table that bench modules add to at import time.

A benchmark is two zero-argument callables doing *the same work*: ``ours`` (pykeepalived / netns_lab) and
``anchor`` (the established tool: keepalived, ipvsadm, a shell script of ``ip`` commands...). The runner times
both in the same process run, alternating which goes first, so machine load hits both alike; the ratio is what
we track, never an absolute time (the CI machine and a laptop differ by more than any regression).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["REGISTRY", "Benchmark", "register"]


@dataclass(frozen=True)
class Benchmark:
    name: str
    ours: Callable[[], object]
    anchor: Callable[[], object]
    description: str = ""
    ours_label: str = "ours"
    anchor_label: str = "anchor"
    runs: int = 5  # measured runs of each side (the median is reported)
    warmup: int = 1  # unmeasured runs of each side first (imports, page cache, lazy kernel modules)
    needs_root: bool = False
    needs_tools: tuple[str, ...] = ()  # executables that must be on PATH (e.g. "ip", "keepalived")
    setup: Callable[[], object] | None = None  # once before, untimed
    teardown: Callable[[], object] | None = None  # once after, untimed, also when a run fails
    tags: tuple[str, ...] = field(default_factory=tuple)

    def missing(self) -> str | None:
        """Why this benchmark cannot run here (naming what to install), or None."""
        if self.needs_root and os.geteuid() != 0:
            return "needs root"
        for tool in self.needs_tools:
            if shutil.which(tool) is None:
                return f"needs {tool} on PATH (bash bootstrap.sh installs it)"
        return None


REGISTRY: dict[str, Benchmark] = {}


def register(
    name: str,
    *,
    ours: Callable[[], object],
    anchor: Callable[[], object],
    **options: object,
) -> Benchmark:
    """Add a benchmark (``options`` are the other :class:`Benchmark` fields). Names must be unique."""
    if name in REGISTRY:
        raise ValueError(f"benchmark {name!r} is registered twice")
    bench = Benchmark(name=name, ours=ours, anchor=anchor, **options)  # type: ignore[arg-type]
    REGISTRY[name] = bench
    return bench
