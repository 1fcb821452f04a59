"""``netns-lab``: run and compare scenarios, bring one up to poke at (up/exec/fault/down/list), clean up after
dead runs, print the default topology, run the demo.

Bad flags give argparse's usage message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["main"]

_DELEGATED = {"demo": "netns_lab.demo", "sim": "netns_lab.sim"}
#: ``netns-lab mininet --crash``: the shipped crash scenario on Mininet (scenarios/ is the checkout's, not packaged)
_CRASH = Path(__file__).resolve().parent.parent / "scenarios" / "master-crash.yaml"


def command_parser() -> argparse.ArgumentParser:
    from netns_lab.executors import EXECUTORS

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
    r.add_argument("--executor", choices=EXECUTORS, default="netns",
                   help="who builds the network: the lab's namespaces, or Debian's Mininet (LinuxBridge)")  # fmt: skip
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
    cmp.add_argument("--executor", choices=EXECUTORS, default="netns", help="as for run")
    u = sub.add_parser(
        "up",
        help="bring a scenario's lab up and leave it running (then exec, fault, down)",
        description="Build the scenario's topology, start its real servers and the routers' daemons (and with "
        "--workload its clients), wait for a master, and return leaving it all running. A keeper process "
        "holds the run (its state file under /run/netns_lab names it as owner): 'clean' leaves it alone while "
        "the keeper lives; 'down' ends it.",
    )
    u.add_argument("file", metavar="FILE", help="scenario YAML file")
    u.add_argument("--impl", choices=("pykeepalived", "keepalived"), default="pykeepalived",
                   help="the daemon the routers run (a router's own impl: in the file wins)")  # fmt: skip
    u.add_argument("--workload", action="store_true", help="start the scenario's client workload too")
    u.add_argument("--json", action="store_true", help="print the run's hosts, routers and paths as JSON")
    run_help = "the run to act on (see netns-lab list); needed only when several are up"
    e = sub.add_parser(
        "exec",
        help="run a command in a host of the lab that is up (exit status passed through)",
        description="Run CMD (an argv, no shell) in HOST's network namespace of the run that is up; its exit "
        "status is netns-lab's.",
    )
    e.add_argument("--run", metavar="ID", help=run_help)
    e.add_argument("host", metavar="HOST", help="a host (or switch) of the run")
    e.add_argument("cmd", nargs=argparse.REMAINDER, metavar="CMD", help="the command and its arguments")
    from netns_lab.scenario import FAULT_FIELDS

    f = sub.add_parser(
        "fault",
        help="inject one fault into the lab that is up (the scenario files' fault names)",
        description="Inject one fault now, checked as a scenario file's faults entry. Words after the fault "
        "name are its fields in order, then FIELD=VALUE for the others; TARGET may be 'master' or 'backup'; "
        "duration=S lifts it S seconds later. Examples: 'kill master', 'pause lb1 duration=5', "
        "'priority lb2 200', 'partition lb1,client lb2', 'heal', 'loss lb1,lb2 0.3', 'clear-loss', "
        "'link-down lb1', 'server-stop lb1'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="faults:\n" + "\n".join(f"  {usage}" for usage in _fault_usages(FAULT_FIELDS)),
    )
    f.add_argument("--run", metavar="ID", help=run_help)
    f.add_argument("kind", metavar="FAULT", choices=list(FAULT_FIELDS), help="one of: " + ", ".join(FAULT_FIELDS))
    f.add_argument("words", nargs="*", metavar="ARG", help="its fields (see below)")
    d = sub.add_parser(
        "down",
        help="tear the lab that is up down (everything: namespaces, processes, state)",
        description="Stop the run's workload, daemons and servers, draw its timeline, remove its namespaces "
        "and state file. A run whose keeper is gone is removed all the same.",
    )
    d.add_argument("--run", metavar="ID", help=run_help)
    ls = sub.add_parser(
        "list",
        help="list the lab runs (up and run), with their owner and age",
        description="The lab runs recorded under /run/netns_lab: run id, kind (up: interactive; run: a "
        "netns-lab run or a test), scenario, owner pid and whether it lives, age, hosts.",
    )
    ls.add_argument("--json", action="store_true")
    sub.add_parser("demo", help="VRRP failover demo (netns-lab demo --help for its options)", add_help=False)
    sub.add_parser(
        "sim", help="simulate a VRRP LAN in virtual time: what happens if... (netns-lab sim --help)", add_help=False
    )
    mn = sub.add_parser(
        "mininet", help="alias: netns-lab run scenarios/master-crash.yaml --executor mininet (with --crash)",
        description="Alias of netns-lab run scenarios/master-crash.yaml --executor mininet [--impl IMPL].",
    )  # fmt: skip
    mn.add_argument("--crash", action="store_true", help="run the master-crash scenario on Mininet")
    mn.add_argument("--impl", choices=("pykeepalived", "keepalived"), default="pykeepalived")
    return p


def _fault_usages(fields: Iterable[str]) -> list[str]:
    from netns_lab.interactive import fault_usage

    return [fault_usage(kind) for kind in fields]


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
    parser = command_parser()
    args = parser.parse_args(args_in)
    if args.command == "mininet":
        if not args.crash:
            parser.error("mininet: nothing to do: give --crash (or use netns-lab run FILE --executor mininet)")
        if not _CRASH.is_file():
            parser.error(f"mininet: {_CRASH} not found: use netns-lab run FILE --executor mininet")
        return _main(["run", str(_CRASH), "--executor", "mininet", "--impl", args.impl])
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
    if args.command in ("up", "exec", "fault", "down", "list"):
        from netns_lab import interactive

        return int(getattr(interactive, f"main_{args.command}")(args))
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
                        "boxes": report.boxes,
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
