"""What ``netns-lab run`` and ``netns-lab compare`` print: a human summary or JSON, and the exit status.

``run`` exits 0 only when every expectation holds, 1 when one fails (each failed one is named with its
evidence), 2 when the scenario file is wrong, 3 when the run itself could not happen (not root, no master).
A scenario a implementation is known to fail (``known_failures``) still exits 1, and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TextIO

from netns_lab.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["compare_table", "main_compare", "main_run"]


def _errors() -> tuple[type[BaseException], ...]:
    from netns_lab.capture import CaptureError
    from netns_lab.daemons import DaemonError
    from netns_lab.lab import LabError
    from netns_lab.nemesis import NemesisError
    from netns_lab.runner import RunError

    return (RunError, LabError, DaemonError, CaptureError, NemesisError, OSError)


def _load(args: argparse.Namespace, scenario: Scenario | None) -> Scenario | None:
    if scenario is not None:
        return scenario
    try:
        return load_scenario(args.file)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return None


def main_run(args: argparse.Namespace, scenario: Scenario | None = None) -> int:
    """``run``: ``args.file`` (or ``scenario``, already loaded: the demo's) with ``args.impl``."""
    from netns_lab.runner import run_scenario

    scenario = _load(args, scenario)
    if scenario is None:
        return 2
    try:
        result = run_scenario(
            scenario,
            impl=args.impl,
            seed=args.seed,
            kernel=args.kernel,
            executor=args.executor,
            out=sys.stderr,
            picture_dir=Path(args.out) if args.out else None,
        )
    except _errors() as exc:
        print(f"netns-lab run: {exc}", file=sys.stderr)
        return 3
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(result.summary())
    return 0 if result.ok else 1


def compare_table(results: list[object], out: TextIO) -> None:
    """Verdicts and figures of two runs side by side, with the ratio ours/keepalived for each figure."""
    from netns_lab.runner import RunResult

    rs = [r for r in results if isinstance(r, RunResult)]
    if len(rs) != 2:
        return
    a, b = rs
    out.write(f"\n{'check':<32} {a.impl:>14} {b.impl:>14}\n")
    for va, vb in zip(a.verdicts, b.verdicts, strict=True):
        out.write(f"{va.check:<32} {'ok' if va.ok else 'FAIL':>14} {'ok' if vb.ok else 'FAIL':>14}\n")
    fa, fb = a.figures(), b.figures()
    keys = [k for k in fa if k in fb]
    if keys:
        out.write(f"\n{'figure':<40} {a.impl:>12} {b.impl:>12} {'ratio':>7}\n")
        for k in keys:
            ratio = f"{fb[k] / fa[k]:.2f}" if fa[k] else "-"
            out.write(f"{k:<40} {fa[k]:>12.3f} {fb[k]:>12.3f} {ratio:>7}\n")


def main_compare(args: argparse.Namespace, scenario: Scenario | None = None) -> int:
    """``compare``: ``args.file`` (or ``scenario``) with keepalived, then with pykeepalived."""
    from netns_lab.runner import run_scenario
    from netns_lab.timeline import Run, draw_compare

    scenario = _load(args, scenario)
    if scenario is None:
        return 2
    results = []
    try:
        for impl in ("keepalived", "pykeepalived"):
            sys.stderr.write(f"\n=== {impl} ===\n")
            results.append(
                run_scenario(
                    scenario,
                    impl=impl,
                    seed=args.seed,
                    executor=args.executor,
                    kernel=getattr(args, "kernel", "auto"),
                    out=sys.stderr,
                    picture_dir=Path(args.out) if args.out else None,
                )
            )
    except _errors() as exc:
        print(f"netns-lab compare: {exc}", file=sys.stderr)
        return 3
    ka, ours = results
    pdir = Path(args.out) if args.out else ours.log_dir
    end = max(ka.context.end, ours.context.end)
    pictures = draw_compare(
        Run(f"{scenario.name} — keepalived", ka.history, end),
        Run(f"{scenario.name} — pykeepalived", ours.history, end),
        pdir / f"{scenario.name}-compare",
    )
    if args.json:
        json.dump(
            {"runs": [r.to_json() for r in results], "pictures": [str(p) for p in pictures]}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    else:
        for r in results:
            print(r.summary())
        compare_table(list(results), sys.stdout)
        for p in pictures:
            print(f"compare timeline: {p}")
    return 0 if all(r.ok for r in results) else 1
