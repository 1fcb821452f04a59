"""``netns-lab``: clean up after dead runs, print the default topology, run the demo.

Bad flags give argparse's usage message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Sequence

__all__ = ["main"]

_DELEGATED = {"demo": "netns_lab.demo", "sim": "netns_lab.sim", "mininet": "netns_lab.mn_adapter"}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="netns-lab",
        description="Run pykeepalived (or keepalived) in Linux network namespaces and break things.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    c = sub.add_parser(
        "clean",
        help="remove what dead lab runs left behind (namespaces, processes); live runs are left alone",
        description="Remove the namespaces and processes of lab runs whose owner process is dead. Only runs "
        "recorded under /run/netns_lab are considered; a run whose owner is alive is never touched.",
    )
    c.add_argument("--prefix", action="append", metavar="PREFIX", help="only this run prefix (repeatable)")
    c.add_argument("--json", action="store_true", help="print the result as JSON")
    t = sub.add_parser(
        "topology", help="print the default topology", description="Print the default topology."
    )
    t.add_argument("--json", action="store_true", help="print it as JSON (the format scenario files use)")
    k = sub.add_parser(
        "check",
        help="validate scenario files (errors name file:line: field)",
        description="Validate scenario files against the schema and their cross-references; exit 2 on errors.",
    )
    k.add_argument("files", nargs="+", metavar="FILE", help="scenario YAML file(s)")
    sub.add_parser(
        "schema", help="print the scenario JSON schema", description="Print the JSON schema of scenario files."
    )
    r = sub.add_parser(
        "run",
        help="run a scenario file; exit 0 only when every expectation holds",
        description="Build the scenario's lab, run its routers, workload and faults, check its expectations over "
        "the recorded history and draw the timeline. Exit 0 only when every expectation holds.",
    )
    r.add_argument("file", metavar="FILE", help="scenario YAML file")
    r.add_argument("--impl", choices=("pykeepalived", "keepalived"), default="pykeepalived",
                   help="the daemon the routers run (a router's own impl: in the file wins)")  # fmt: skip
    r.add_argument("--seed", type=int, default=None, help="seed for the scenario's random_faults")
    r.add_argument("--json", action="store_true", help="print the result as JSON (progress goes to stderr)")
    r.add_argument("--kernel", choices=("auto", "host", "uml"), default="auto", help="kernel to run on")
    r.add_argument("--out", metavar="DIR", help="write the timeline pictures here (default: the run's log dir)")
    cmp = sub.add_parser(
        "compare",
        help="run a scenario with keepalived and with pykeepalived; figures side by side",
        description="Run the scenario once with each implementation and print their verdicts and figures side "
        "by side, with ratios; draws both timelines one above the other.",
    )
    cmp.add_argument("file", metavar="FILE", help="scenario YAML file")
    cmp.add_argument("--seed", type=int, default=None)
    cmp.add_argument("--kernel", choices=("auto", "host", "uml"), default="auto", help="kernel to run on")
    cmp.add_argument("--json", action="store_true")
    cmp.add_argument("--out", metavar="DIR", help="write the pictures here")
    sub.add_parser("demo", help="VRRP failover demo (netns-lab demo --help for its options)", add_help=False)
    sub.add_parser(
        "sim", help="simulate a VRRP LAN in virtual time: what happens if... (netns-lab sim --help)", add_help=False
    )
    sub.add_parser(
        "mininet", help="the lab's default topology on Mininet: master-crash failover (netns-lab mininet --help)",
        add_help=False,
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("netns-lab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `netns-lab topology | head`
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] in _DELEGATED:
        # these subcommands parse their own flags: netns-lab demo --help, netns-lab sim --help
        module = importlib.import_module(_DELEGATED[args_in[0]])
        return int(module.main(args_in[1:]) or 0)
    args = _parser().parse_args(args_in)
    if args.command == "topology":
        from netns_lab.topology import Topology

        topo = Topology.default()
        print(topo.to_json() if args.json else topo.describe())
        return 0
    if args.command == "check":
        from netns_lab.scenario import ScenarioError, load_scenario

        status = 0
        for path in args.files:
            try:
                scenario = load_scenario(path)
            except ScenarioError as exc:
                print(exc, file=sys.stderr)
                status = 2
                continue
            print(f"{path}: ok ({scenario.name}: {len(scenario.routers)} routers, "
                  f"{len(scenario.schedule())} faults, {len(scenario.expect)} checks)")  # fmt: skip
        return status
    if args.command in ("run", "compare"):
        from netns_lab.report import main_compare, main_run

        return main_run(args) if args.command == "run" else main_compare(args)
    if args.command == "schema":
        from netns_lab.scenario import SCHEMA

        print(json.dumps(SCHEMA, indent=2))
        return 0
    if args.command == "clean":
        if os.geteuid() != 0:
            print("netns-lab clean: must run as root (it removes network namespaces)", file=sys.stderr)
            return 1
        from netns_lab.cleanup import clean

        report = clean(args.prefix)
        if args.json:
            print(
                json.dumps(
                    {
                        "removed": report.removed,
                        "kept": report.kept,
                        "broken": report.broken,
                        "unowned": report.unowned,
                    },
                    indent=2,
                )
            )
        else:
            print(report.summary())
        return 0
    raise AssertionError(args.command)  # argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
