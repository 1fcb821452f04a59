"""``python -m bench [names...] [--runs N] [--json] [--list]``."""

from __future__ import annotations

import argparse
import sys

from bench.registry import REGISTRY
from bench.runner import discover, format_table, run_benchmark, select, to_json


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench", description="Run benchmarks: ours vs the anchor, one run."
    )
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    p.add_argument("--runs", type=int, help="measured runs per side (default: each benchmark's own)")
    p.add_argument("--json", action="store_true", help="print results as JSON instead of a table")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = p.parse_args(argv)
    if args.runs is not None and args.runs < 1:
        p.error("--runs must be at least 1")
    for module, error in discover().items():
        print(f"warning: bench/{module}.py did not import: {error}", file=sys.stderr)
    if args.list:
        for b in REGISTRY.values():
            print(f"{b.name}: {b.description}")
        return 0
    try:
        chosen = select(args.names)
    except KeyError as exc:
        p.error(str(exc.args[0]))
    results = []
    for b in chosen:
        print(f"running {b.name} ...", file=sys.stderr, flush=True)
        results.append(run_benchmark(b, args.runs))
    print(to_json(results) if args.json else format_table(results))
    return 1 if any(r.error for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
