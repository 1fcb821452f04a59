"""Run registered benchmarks and print one table row each: name, ours, anchor, ratio (medians)."""

from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.registry import REGISTRY, Benchmark

__all__ = ["Result", "discover", "format_table", "run_benchmark", "select", "to_json"]


@dataclass
class Result:
    name: str
    ours_s: list[float]
    anchor_s: list[float]
    ours_label: str = "ours"
    anchor_label: str = "anchor"
    skipped: str | None = None
    error: str | None = None

    @property
    def ours(self) -> float:
        return statistics.median(self.ours_s)

    @property
    def anchor(self) -> float:
        return statistics.median(self.anchor_s)

    @property
    def ratio(self) -> float:
        """ours / anchor: below 1 means we are faster."""
        return self.ours / self.anchor if self.anchor > 0 else float("inf")

    def to_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"name": self.name, "skipped": self.skipped, "error": self.error}
        if self.ours_s and self.anchor_s:
            d.update(
                ours_median_s=self.ours,
                anchor_median_s=self.anchor,
                ratio=self.ratio,
                ours_runs_s=self.ours_s,
                anchor_runs_s=self.anchor_s,
                ours_label=self.ours_label,
                anchor_label=self.anchor_label,
            )
        return d


def discover() -> dict[str, str]:
    """Import every ``bench/bench_*.py`` (each registers its benchmarks); {module: error} for broken ones."""
    here = Path(__file__).parent
    broken: dict[str, str] = {}
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda i: i.name):
        if info.name.startswith("bench_"):
            try:
                importlib.import_module(f"bench.{info.name}")
            except Exception as exc:  # one broken module must not stop the others
                broken[info.name] = f"{type(exc).__name__}: {exc}"
    return broken


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def run_benchmark(bench: Benchmark, runs: int | None = None) -> Result:
    """Warm up, then time ours and the anchor alternately (ABBA order), ``runs`` times each."""
    res = Result(bench.name, [], [], bench.ours_label, bench.anchor_label)
    why = bench.missing()
    if why:
        res.skipped = why
        return res
    n = runs if runs is not None else bench.runs
    try:
        if bench.setup is not None:
            bench.setup()
        for _ in range(bench.warmup):
            bench.ours()
            bench.anchor()
        for i in range(n):
            pair = [(bench.ours, res.ours_s), (bench.anchor, res.anchor_s)]
            for fn, out in pair if i % 2 == 0 else reversed(pair):
                out.append(_timed(fn))
    except Exception as exc:  # a broken benchmark must not hide the others' results
        res.error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    finally:
        if bench.teardown is not None:
            try:
                bench.teardown()
            except Exception as exc:  # nor may a failing teardown (it would escape and end the whole run)
                res.error = (res.error + "\n" if res.error else "") + f"teardown: {type(exc).__name__}: {exc}"
    return res


def _fmt(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def format_table(results: Sequence[Result]) -> str:
    rows = [("benchmark", "ours", "anchor", "ratio", "runs")]
    notes = []
    for r in results:
        if r.skipped:
            rows.append((r.name, "-", "-", "skipped", ""))
            notes.append(f"{r.name}: skipped, {r.skipped}")
        elif r.error or not r.ours_s or not r.anchor_s:
            rows.append((r.name, "-", "-", "error", ""))
            notes.append(f"{r.name}: {r.error}")
        else:
            rows.append((r.name, _fmt(r.ours), _fmt(r.anchor), f"{r.ratio:.2f}x", str(len(r.ours_s))))
            notes.append(f"{r.name}: ours = {r.ours_label}; anchor = {r.anchor_label}")
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for j, row in enumerate(rows):
        lines.append(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines.append("")
    lines.append("medians; ratio = ours / anchor (below 1.00x: ours is faster)")
    lines.extend(notes)
    return "\n".join(lines)


def to_json(results: Sequence[Result]) -> str:
    return json.dumps([r.to_dict() for r in results], indent=2)


def select(names: Sequence[str]) -> list[Benchmark]:
    """The benchmarks named (all when none); KeyError naming the known ones for an unknown name."""
    if not names:
        return list(REGISTRY.values())
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(REGISTRY) or 'none'}")
    return [REGISTRY[n] for n in names]
