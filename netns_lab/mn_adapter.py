"""The Mininet adapter: a netns_lab topology and our daemon (or keepalived) in Mininet hosts.

Debian's ``mininet`` lives in the system Python (``/usr/bin/python3``), not in the project's venv, so the
network is built by :mod:`netns_lab.mininet_runner` in a subprocess under that interpreter
(``Mininet(topo, switch=LinuxBridge, controller=None)``, topology from :mod:`netns_lab.mininet_topo`, which is
also an ``mn --custom`` file) and this side talks to it over pipes, one JSON object per line.  Daemon command
lines are the lab's (:class:`netns_lab.daemons.Daemon`), so the same keepalived.conf runs in both.

    with MininetRun(Topology.default(), {"lb1": conf1, "lb2": conf2}, log_dir) as run:
        run.wait_holders("10.0.0.100", ["lb1"])
        run.kill("lb1")
        run.wait_holders("10.0.0.100", ["lb2"])

``netns-lab mininet --crash`` (or ``python -m netns_lab.mn_adapter --crash``) runs that on the default topology
(the Mininet executor, until the scenario runner takes an ``--executor`` flag).
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, cast

from netns_lab.daemons import Daemon, DaemonSpec, Impl, instance_block, keepalived_conf
from netns_lab.lab import Lab
from netns_lab.topology import Topology

__all__ = ["SYSTEM_PYTHON", "MininetError", "MininetRun", "main"]

SYSTEM_PYTHON = "/usr/bin/python3"
_HERE = Path(__file__).resolve().parent


class MininetError(RuntimeError):
    """The Mininet side failed or is missing; the message says what (and what to install)."""


def available() -> str | None:
    """Why the adapter cannot run here (None: it can)."""
    cp = subprocess.run([SYSTEM_PYTHON, "-c", "import mininet.nodelib"], capture_output=True, check=False)
    if cp.returncode != 0:
        return "needs Debian's mininet in /usr/bin/python3 (apt-get install mininet; bootstrap.sh does it)"
    return None


class MininetRun:
    """A topology built by Mininet with a daemon per router host; closed (network and daemons gone) on exit."""

    def __init__(self, topology: Topology, configs: Mapping[str, str], log_dir: Path, *,
                 impl: Impl = "pykeepalived") -> None:  # fmt: skip
        self.topology = topology
        self.log_dir = Path(log_dir)
        self.prefix = "mn" + secrets.token_hex(2)
        self.daemons: dict[str, dict[str, Any]] = {}
        for host, conf in configs.items():
            run_dir = self.log_dir / f"{host}-{impl}"
            run_dir.mkdir(parents=True, exist_ok=True)
            # the lab's command line for this daemon: Daemon's argv and env need no lab, only the run directory
            d = Daemon(cast(Lab, None), DaemonSpec(host, conf, impl=impl), run_dir)
            d.write_config(conf)
            self.daemons[host] = {"argv": d.argv(), "env": d.env(), "log": str(run_dir / "daemon.log")}
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> MininetRun:
        why = available()
        if why:
            raise MininetError(why)
        self.proc = subprocess.Popen([SYSTEM_PYTHON, str(_HERE / "mininet_runner.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            self._request({"prefix": self.prefix, "topology": self.topology.to_dict(), "daemons": self.daemons})
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _request(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        if self.proc is None or self.proc.stdin is None or self.proc.stdout is None:
            raise MininetError("the Mininet runner is not running")
        self.proc.stdin.write(json.dumps(obj) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise MininetError(f"the Mininet runner exited: {err.strip()[-2000:]}")
        answer: dict[str, Any] = json.loads(line)
        if "error" in answer:
            raise MininetError(f"Mininet runner: {answer['error']}")
        return answer

    def holders(self, vip: str, hosts: Sequence[str] | None = None) -> list[str]:
        """The router hosts (default: all with a daemon) with ``vip`` on an interface."""
        return list(self._request({"op": "holders", "vip": vip, "hosts": list(hosts or self.daemons)})["holders"])

    def wait_holders(self, vip: str, want: Sequence[str], timeout: float = 15.0,
                     hosts: Sequence[str] | None = None) -> list[str]:  # fmt: skip
        """Wait until exactly ``want`` hold ``vip``; returns the holders (raises MininetError on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.holders(vip, hosts)
            if sorted(got) == sorted(want):
                return got
            if time.monotonic() > deadline:
                raise MininetError(f"{vip}: holders {got} after {timeout:g} s, wanted {list(want)}")
            time.sleep(0.1)

    def kill(self, host: str) -> None:
        """SIGKILL ``host``'s daemon (a crash)."""
        self._request({"op": "kill", "host": host})

    def close(self) -> None:
        """Stop daemons and network (the runner also removes any link of its own prefix left behind)."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        try:
            if proc.poll() is None and proc.stdin is not None:
                proc.stdin.write(json.dumps({"op": "stop"}) + "\n")
                proc.stdin.close()
            proc.wait(60)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()

    def log(self, host: str) -> str:
        path = Path(self.daemons[host]["log"])
        return path.read_text(errors="replace") if path.exists() else ""


def crash_demo(log_dir: Path, impl: Impl = "pykeepalived") -> list[str]:
    """The default topology, lb1 (200) and lb2 (100) sharing 10.0.0.100; lb1 crashes; returns the holders
    after the failover (one: lb2)."""
    confs = {h: keepalived_conf(instance_block(priority=p, advert_int=0.2), router_id=h)
             for h, p in (("lb1", 200), ("lb2", 100))}  # fmt: skip
    with MininetRun(Topology.default(), confs, log_dir, impl=impl) as run:
        run.wait_holders("10.0.0.100", ["lb1"], timeout=20)
        run.kill("lb1")
        return run.wait_holders("10.0.0.100", ["lb2"], timeout=10, hosts=["lb2"])


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="netns-lab mininet", description=__doc__.split("\n")[0])
    ap.add_argument("--crash", action="store_true", help="run the master-crash failover on the default topology")
    ap.add_argument("--impl", choices=["pykeepalived", "keepalived"], default="pykeepalived")
    args = ap.parse_args(argv)
    if not args.crash:
        ap.error("nothing to do: give --crash")
    with tempfile.TemporaryDirectory(prefix="netns-lab-mininet-") as tmp:
        try:
            held = crash_demo(Path(tmp), impl=args.impl)
        except MininetError as exc:
            print(f"netns-lab mininet: {exc}", file=sys.stderr)
            return 1
    print(f"after lb1 crashed, {', '.join(held)} holds 10.0.0.100")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
