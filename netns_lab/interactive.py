"""``netns-lab up / exec / fault / down / list``: a scenario's lab left running for a person to poke at.

``up FILE`` builds the scenario's topology, starts its real servers, the routers' daemons and (``--workload``)
its clients, and returns once a master holds the VIP, leaving all of it running. What keeps it is a small
**keeper** process that ``up`` leaves behind (a new session, its output in the run's log dir): it holds the
:class:`~netns_lab.scenario_run.ScenarioRun` (daemons, nemesis, capture, VIP watcher) and answers on a Unix
socket beside the run's state file (``/run/netns_lab/<run>.sock``).

Ownership is the run's state file, as for every lab run (:mod:`netns_lab.cleanup`), and the owner it names
is the keeper. So:

* ``netns-lab clean`` never touches an ``up`` run while its keeper lives (the keeper is its live owner);
  ``down`` is the way to end it;
* if the keeper is gone (killed, machine trouble), the run is a dead run like any other: ``clean`` removes
  what is left, and so does ``down``;
* ``exec`` needs no keeper: it runs ``ip netns exec <run>-<host> CMD...`` (argv, no shell) and passes the
  command's exit status through; ``fault`` and ``down`` ask the keeper, which injects faults through the same
  :class:`~netns_lab.nemesis.Nemesis` method as ``netns-lab run`` (:meth:`~netns_lab.nemesis.Nemesis.apply`),
  after checking them exactly as a scenario file's ``faults`` entry (:func:`~netns_lab.scenario.parse_fault`).

Bad input (no run up, an unknown host or fault, a wrong argument) exits 2 with a message naming the field;
a run that cannot be reached exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from netns_lab import cleanup
from netns_lab.cleanup import RunState
from netns_lab.scenario import FAULT_FIELDS, ScenarioError, load_scenario, parse_fault, with_undo

__all__ = ["FaultArgError", "fault_request", "main_down", "main_exec", "main_fault", "main_list", "main_up"]

#: how long ``up`` waits for the keeper to report the lab settled
UP_TIMEOUT = 120.0
#: the words after ``netns-lab fault KIND`` in order, per kind (the rest: ``field=value``)
POSITIONAL: dict[str, tuple[str, ...]] = {
    "priority": ("target", "priority"),
    "track-file": ("target", "file", "value"),
    "link-down": ("target", "ifname"),
    "link-up": ("target", "ifname"),
    "partition": ("groups",),
    "heal": ("switch",),
    "loss": ("targets", "probability"),
    "clear-loss": ("targets",),
}


class FaultArgError(ValueError):
    """The words of ``netns-lab fault`` do not make a fault; the message says which and shows the usage."""


class _Refused(Exception):
    """A command cannot go on; ``status`` is its exit status (2: bad input, 1: the run cannot be reached)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


# ------------------------------------------------------------------------------------------------ fault words
def fault_usage(kind: str) -> str:
    """``netns-lab fault priority TARGET PRIORITY [duration=S]``-style usage of one kind."""
    fields, required = FAULT_FIELDS[kind]
    pos = POSITIONAL.get(kind, ("target",))
    words = []
    for name in pos:
        word = {"groups": "HOST,HOST... HOST,HOST...", "targets": "HOST[,HOST...]"}.get(name, name.upper())
        words.append(word if name in required else f"[{word}]")
    words += [f"[{k}=...]" for k in fields if k not in pos]
    return f"netns-lab fault {kind} {' '.join(words)}".rstrip()


def _value(kind: str, key: str, text: str) -> Any:
    schema = FAULT_FIELDS[kind][0][key]
    if schema.get("type") == "array":
        return [w for w in text.split(",") if w]
    if schema.get("type") in ("number", "integer"):
        try:
            number = float(text)
        except ValueError:
            raise FaultArgError(f"{key}: {text!r} is not a number\nusage: {fault_usage(kind)}") from None
        return int(number) if schema["type"] == "integer" and number == int(number) else number
    return text


def fault_request(kind: str, words: Sequence[str]) -> dict[str, Any]:
    """``netns-lab fault KIND WORDS...`` as a scenario file's fault entry (``{"fault": "kill", "target":
    "lb1"}``): positional words in the kind's order (:data:`POSITIONAL`), then ``field=value`` for any field
    the kind takes. The result is checked later against the run's scenario (:func:`parse_fault`)."""
    if kind not in FAULT_FIELDS:
        raise FaultArgError(f"unknown fault {kind!r} (faults: {', '.join(FAULT_FIELDS)})")
    fields = FAULT_FIELDS[kind][0]
    pos = list(POSITIONAL.get(kind, ("target",)))
    raw: dict[str, Any] = {"fault": kind}
    for word in words:
        key, eq, text = word.partition("=")
        if eq and key in fields:
            raw[key] = _value(kind, key, text) if key != "groups" else [g.split(",") for g in text.split("|")]
        elif eq and key.isidentifier():
            raise FaultArgError(f"{key}: {kind} takes no such field (fields: {', '.join(fields)})\n"
                                f"usage: {fault_usage(kind)}")  # fmt: skip
        elif pos and pos[0] == "groups":
            raw.setdefault("groups", []).append([h for h in word.split(",") if h])
        elif pos:
            name = pos.pop(0)
            raw[name] = _value(kind, name, word)
        else:
            raise FaultArgError(f"{kind}: unexpected {word!r}\nusage: {fault_usage(kind)}")
    return raw


# ------------------------------------------------------------------------------------------------ runs
def interactive_runs() -> list[RunState]:
    """The ``netns-lab up`` runs recorded under the run-state dir (live or not)."""
    return [st for _, st in cleanup.list_runs() if st is not None and st.interactive]


def select_run(run_id: str | None) -> RunState:
    """The run ``--run`` names, or the only one up; _Refused (exit 2) otherwise."""
    runs = interactive_runs()
    if run_id is not None:
        for st in runs:
            if st.prefix == run_id:
                return st
        known = ", ".join(st.prefix for st in runs) or "none"
        raise _Refused(f"no lab run {run_id!r} is up (runs up: {known}; see netns-lab list)")
    if not runs:
        raise _Refused("no lab run is up (start one with: netns-lab up SCENARIO.yaml)")
    if len(runs) > 1:
        raise _Refused(f"{len(runs)} lab runs are up ({', '.join(st.prefix for st in runs)}): choose one with --run ID")
    return runs[0]


def run_hosts(state: RunState) -> list[str]:
    """The hosts (and switches) of a run, from its namespaces."""
    return [n[len(state.prefix) + 1 :] for n in state.namespaces if n.startswith(f"{state.prefix}-")]


def _ask(state: RunState, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """One request to a run's keeper (a JSON line each way)."""
    if not state.owner_alive():
        raise _Refused(f"lab run {state.prefix}: its keeper (pid {state.pid}) is gone; netns-lab down --run "
                       f"{state.prefix} removes what is left", 1)  # fmt: skip
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(state.control_path))
            s.sendall(json.dumps(request).encode() + b"\n")
            s.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := s.recv(65536):
                data += chunk
    except OSError as exc:
        raise _Refused(f"lab run {state.prefix}: cannot reach its keeper at {state.control_path}: {exc}", 1) from None
    try:
        return cast(dict[str, Any], json.loads(data))
    except ValueError:
        raise _Refused(f"lab run {state.prefix}: its keeper answered {data[:200]!r}", 1) from None


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


# ------------------------------------------------------------------------------------------------ commands
def _guard(fn: Any) -> Any:
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return int(fn(args))
        except _Refused as exc:
            print(f"netns-lab {args.command}: {exc}", file=sys.stderr)
            return exc.status

    return wrapped


@_guard
def main_up(args: argparse.Namespace) -> int:
    from netns_lab.runner import RunError, _preflight

    try:
        scenario = load_scenario(args.file)
    except ScenarioError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        _preflight(scenario, args.impl, "auto")
    except RunError as exc:
        raise _Refused(str(exc), 1) from None
    argv = [sys.executable, "-m", "netns_lab.interactive", "keep", str(Path(args.file).resolve()),
            "--impl", args.impl] + (["--workload"] if args.workload else [])  # fmt: skip
    keeper = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True)  # fmt: skip
    assert keeper.stdout is not None and keeper.stderr is not None
    line = b""
    deadline = time.monotonic() + UP_TIMEOUT
    while not line.endswith(b"\n") and time.monotonic() < deadline:
        ready, _, _ = select.select([keeper.stdout], [], [], 0.5)
        if ready:
            chunk = os.read(keeper.stdout.fileno(), 65536)
            if not chunk:
                break
            line += chunk
    try:
        info = json.loads(line)
    except ValueError:
        keeper.kill()  # its Lab's handler does not run on SIGKILL: the state file makes it a dead run
        keeper.wait(10)
        cleanup.clean()  # ... which this removes (only dead runs: never another live one)
        err = keeper.stderr.read().decode(errors="replace")[-2000:]
        raise _Refused(f"the lab did not come up within {UP_TIMEOUT:g} s\n{err}", 1) from None
    if not info.get("ok"):
        keeper.wait(30)
        raise _Refused(str(info.get("error")), 1)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    others = len(interactive_runs()) > 1
    run = f" --run {info['prefix']}" if others else ""
    print(f"lab {info['prefix']} is up: scenario {info['scenario']} with {info['impl']}"
          f" (keeper pid {info['keeper_pid']})")  # fmt: skip
    print(f"  hosts:    {' '.join(info['hosts'])}   (switches: {' '.join(info['switches'])})")
    print(f"  routers:  {' '.join(info['routers'])}; master {info['master']} holds {' '.join(info['vips'])}")
    if info["clients"]:
        print(f"  clients:  {' '.join(info['clients'])} (requests in {info['log_dir']}/requests-*.jsonl)")
    print(f"  logs:     {info['log_dir']}")
    print("try:")
    print(f"  netns-lab exec{run} {info['master']} ip -br addr     # any command in a host's namespace")
    print(f"  netns-lab fault{run} kill master                 # a fault, as in a scenario file's faults")
    if len(info["routers"]) > 1:
        split = f"partition {info['routers'][0]} {','.join(info['routers'][1:])}"
        print(f"  netns-lab fault{run} {split:<29}# (netns-lab fault --help lists them)")
    print("  netns-lab list                                   # the runs that are up")
    print(f"  netns-lab down{run}                               # stop it all, draw the timeline")
    return 0


@_guard
def main_exec(args: argparse.Namespace) -> int:
    state = select_run(args.run)
    hosts = run_hosts(state)
    if args.host not in hosts:
        raise _Refused(f"no host {args.host!r} in lab run {state.prefix} (hosts: {', '.join(hosts)})")
    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise _Refused("no command given (netns-lab exec HOST CMD [ARGS...])")
    try:
        rc = subprocess.run(["ip", "netns", "exec", f"{state.prefix}-{args.host}", *cmd], check=False).returncode
    except OSError as exc:
        raise _Refused(f"cannot run ip netns exec: {exc}", 1) from None
    return rc if rc >= 0 else 128 - rc


@_guard
def main_fault(args: argparse.Namespace) -> int:
    try:
        raw = fault_request(args.kind, args.words)
    except FaultArgError as exc:
        raise _Refused(str(exc)) from None
    state = select_run(args.run)
    reply = _ask(state, {"op": "fault", "fault": raw})
    if not reply.get("ok"):
        raise _Refused(str(reply.get("error")), int(reply.get("status", 1)))
    print(f"lab {state.prefix}: {reply['text']}")
    return 0


@_guard
def main_down(args: argparse.Namespace) -> int:
    state = select_run(args.run)
    if state.owner_alive():
        reply = _ask(state, {"op": "down"}, timeout=120)
        deadline = time.monotonic() + 30
        while state.path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        print(f"lab {state.prefix} is down" + (f"; timeline: {' '.join(reply['timeline'])}"
                                               if reply.get("timeline") else ""))  # fmt: skip
        if not reply.get("ok"):
            raise _Refused(str(reply.get("error")), 1)
        return 0
    report = cleanup.clean([state.prefix])
    removed = report.removed.get(state.prefix, [])
    print(f"lab {state.prefix} is down (its keeper was gone; removed {len(removed)} namespace(s))")
    return 0


def main_list(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    now = time.time()
    for path, st in cleanup.list_runs():
        if st is None:
            rows.append({"run": path.stem, "kind": "?", "scenario": "", "owner": "", "alive": False,
                         "hosts": [], "age_s": 0.0, "note": "unreadable state file"})  # fmt: skip
            continue
        rows.append({"run": st.prefix, "kind": "up" if st.interactive else "run",
                     "scenario": st.scenario or st.topology, "owner": st.pid, "alive": st.owner_alive(),
                     "hosts": run_hosts(st), "age_s": round(now - st.created, 1), "note": ""})  # fmt: skip
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no lab runs ({cleanup.STATE_DIR} has none)")
        return 0
    print(f"{'RUN':<8} {'KIND':<4} {'SCENARIO':<22} {'OWNER':<13} {'AGE':>5}  HOSTS")
    for r in rows:
        owner = f"{r['owner']} {'alive' if r['alive'] else 'dead'}" if r["owner"] else "-"
        print(f"{r['run']:<8} {r['kind']:<4} {r['scenario'][:22]:<22} {owner:<13} {_age(r['age_s']):>5}  "
              f"{' '.join(r['hosts'])}{'  ' + r['note'] if r['note'] else ''}")  # fmt: skip
    return 0


# ------------------------------------------------------------------------------------------------ the keeper
class _Keeper:
    """Holds one ScenarioRun up and serves requests on its control socket until ``down`` (or SIGTERM)."""

    def __init__(self, path: str, impl: str, workload: bool) -> None:
        from netns_lab.scenario_run import ScenarioRun

        self.scenario = load_scenario(path)
        self.run = ScenarioRun(self.scenario, None, impl=cast(Any, impl), interactive=True)
        self.impl = impl
        self.workload = workload
        self.lock = threading.Lock()
        self.timers: list[threading.Timer] = []
        self.reported = False

    def info(self) -> dict[str, Any]:
        lab = self.run.lab
        return {
            "ok": True,
            "prefix": lab.prefix,
            "scenario": self.scenario.name,
            "file": str(self.scenario.path),
            "impl": self.impl,
            "keeper_pid": os.getpid(),
            "hosts": lab.hosts,
            "switches": [s.name for s in lab.topology.switches],
            "routers": list(self.run.daemons),
            "vips": self.run.vips,
            "master": self.run.master(),
            "clients": [c[2] for c in self.run.clients],
            "log_dir": str(lab.log_dir),
        }

    def fault(self, raw: dict[str, Any]) -> dict[str, Any]:
        from netns_lab.daemons import DaemonError
        from netns_lab.lab import LabError
        from netns_lab.nemesis import NemesisError

        try:
            f = parse_fault(raw, self.scenario, source="netns-lab fault")
        except ScenarioError as exc:
            return {"ok": False, "status": 2, "error": str(exc).removeprefix("netns-lab fault: ")}
        try:
            with self.lock:
                done = self.run.inject(f)
        except (NemesisError, LabError, DaemonError, OSError) as exc:
            return {"ok": False, "status": 1, "error": f"{f.describe()}: {exc}"}
        text = done.describe()
        for lift in with_undo(done)[1:]:  # `duration=S`: lifted S seconds later, on the same hosts
            timer = threading.Timer(lift.at - done.at, self._lift, (lift,))
            timer.daemon = True
            timer.start()
            self.timers.append(timer)
            text += f" (then {lift.describe()})"
        return {"ok": True, "text": text}

    def _lift(self, f: Any) -> None:
        try:
            with self.lock:
                self.run.inject(f)
            print(f"lifted: {f.describe()}", flush=True)
        except Exception as exc:  # a lift that fails must not take the keeper down
            print(f"lifting {f.describe()} failed: {exc}", flush=True)

    def down(self) -> dict[str, Any]:
        for timer in self.timers:
            timer.cancel()
        pictures: list[str] = []
        try:
            pictures = [str(p) for p in self.run.timeline(self.run.log_dir / f"{self.scenario.name}-{self.impl}")]
        except Exception as exc:  # the lab must come down even if the picture cannot be drawn
            print(f"no timeline: {exc}", flush=True)
        self.run.close()
        return {"ok": True, "timeline": pictures}

    def serve(self, log: Path) -> None:
        """Answer requests (one JSON line each) until ``down``; from the report on, output goes to ``log``."""
        state = self.run.lab.state
        assert state is not None
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as srv:
            srv.bind(str(state.control_path))
            os.chmod(state.control_path, 0o600)
            srv.listen(8)
            _report(self.info())
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)  # `up` has what it waited for: from now on the keeper writes to its log only
            os.dup2(fd, 2)
            os.close(fd)
            self.reported = True
            while True:
                conn, _ = srv.accept()
                with conn:
                    conn.settimeout(10)
                    data = b""
                    while chunk := conn.recv(65536):
                        data += chunk
                    try:
                        request = json.loads(data)
                        op = request["op"]
                    except (ValueError, KeyError, TypeError):
                        conn.sendall(json.dumps({"ok": False, "status": 2, "error": "bad request"}).encode())
                        continue
                    if op == "info":
                        reply = self.info()
                    elif op == "fault":
                        reply = self.fault(dict(request.get("fault") or {}))
                    elif op == "down":
                        conn.sendall(json.dumps(self.down()).encode())
                        return
                    else:
                        reply = {"ok": False, "status": 2, "error": f"unknown request {op!r}"}
                    conn.sendall(json.dumps(reply).encode())


def _report(info: dict[str, Any]) -> None:
    """Tell ``up`` (reading the keeper's stdout) how it went: one JSON line."""
    sys.stdout.write(json.dumps(info) + "\n")
    sys.stdout.flush()


def keep(path: str, impl: str, workload: bool) -> int:
    """The keeper's life: bring the scenario up, report to ``up``, serve until ``down``; the lab is torn down
    however this ends (``down``, an error, SIGTERM: the Lab's handler)."""
    try:
        keeper = _Keeper(path, impl, workload)
    except ScenarioError as exc:
        _report({"ok": False, "error": str(exc)})
        return 2
    try:
        keeper.run.up(servers=True, workload=workload)
        keeper.serve(keeper.run.log_dir / "keeper.log")
    except Exception as exc:
        if keeper.reported:
            traceback.print_exc()
        else:
            _report({"ok": False, "error": str(exc) or repr(exc)})
        return 1
    finally:
        keeper.run.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m netns_lab.interactive", description="the keeper of netns-lab up")
    sub = p.add_subparsers(dest="cmd", required=True)
    k = sub.add_parser("keep")
    k.add_argument("file")
    k.add_argument("--impl", default="pykeepalived")
    k.add_argument("--workload", action="store_true")
    args = p.parse_args(argv)
    return keep(args.file, args.impl, args.workload)


if __name__ == "__main__":
    sys.exit(main())
