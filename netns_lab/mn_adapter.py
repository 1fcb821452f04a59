"""The Mininet executor: a scenario's topology built by Mininet, used by the runner as any other lab.

Debian's ``mininet`` lives in the system Python (``/usr/bin/python3``), not in the project's venv, so the network
is built by :mod:`netns_lab.mininet_runner` in a subprocess under that interpreter
(``Mininet(topo, switch=LinuxBridge, controller=None)``, topology from :mod:`netns_lab.mininet_topo`, which is
also an ``mn --custom`` file) and this side talks to it over pipes, one JSON object per line.

The seam is :class:`netns_lab.lab.Lab`: :class:`MininetLab` is a Lab whose hosts are Mininet's hosts (each
host's namespace, held by Mininet's shell in it, is given the lab's name ``<prefix>-<host>`` in ``/run/netns``,
as ``ip netns attach`` does) and whose switches are Mininet's Linux bridges, which live in the root namespace
(``switch_namespace()`` is None).  Everything else is shared with the namespace executor: hosts are configured by
the same code (addresses, routes, sysctls), daemons start with the same command lines, the capture reads the
bridge, the nemesis's nft bridge table carries the run's prefix and matches only the run's ports, and history,
checkers, report and timeline do not know which executor ran.

Nothing of a run is left behind: teardown kills the processes the lab started, removes the names, and the
runner stops the network and deletes the run's own links, bridges and nft table (never anything else; ``mn -c``
would remove every Mininet run on the machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pyroute2 import netns as pyroute2_netns

from netns_lab import cleanup
from netns_lab.lab import Lab, LabError, _run_children
from netns_lab.nemesis import TABLE
from netns_lab.topology import Topology

__all__ = ["SYSTEM_PYTHON", "MininetLab", "available"]

SYSTEM_PYTHON = "/usr/bin/python3"
_HERE = Path(__file__).resolve().parent


def available() -> str | None:
    """Why the Mininet executor cannot run here (None: it can)."""
    try:
        cp = subprocess.run([SYSTEM_PYTHON, "-c", "import mininet.nodelib"], capture_output=True, check=False)
    except OSError:
        return f"needs {SYSTEM_PYTHON} with Debian's mininet (apt-get install mininet; bootstrap.sh does it)"
    if cp.returncode != 0:
        return "needs Debian's mininet in /usr/bin/python3 (apt-get install mininet; bootstrap.sh does it)"
    return None


class MininetLab(Lab):
    """A :class:`~netns_lab.lab.Lab` built by Mininet (LinuxBridge switches, no controller)."""

    shared_switch_namespace = True
    executor = "mininet"

    def __init__(self, topology: Topology, *, prefix: str | None = None, log_dir: Path | None = None,
                 scenario: str = "", interactive: bool = False) -> None:
        super().__init__(topology, prefix=prefix, log_dir=log_dir, scenario=scenario, interactive=interactive)
        self._runner: subprocess.Popen[str] | None = None
        self._shells: dict[str, int] = {}
        self._bridges: list[str] = []
        self._ports: list[str] = []

    # ------------------------------------------------------------------ naming
    def namespaces(self) -> list[str]:
        """The names given to Mininet's host namespaces (the switches have none: they are in the root one)."""
        return [f"{self.prefix}-{h.name}" for h in self.topology.hosts]

    def switch_netns(self, switch: str) -> str:
        self._check_switch(switch)
        raise LabError(f"lab {self.prefix}: Mininet's bridge of {switch!r} is in the root namespace, which has no "
                       "name; use switch_namespace() / switch_exec()")  # fmt: skip

    def switch_namespace(self, switch: str) -> str | None:
        self._check_switch(switch)
        return None

    def bridge_ifname(self, switch: str) -> str:
        self._check_switch(switch)
        i = [s.name for s in self.topology.switches].index(switch)
        return self._bridges[i] if self._bridges else f"{self.prefix}s{i}"

    def port_ifname(self, host: str, ifname: str = "eth0") -> str:
        for i, link in enumerate(self.topology.links):
            if link.host == host and link.ifname == ifname:
                return self._ports[i] if self._ports else f"{self.bridge_ifname(link.switch)}-p{i}"
        raise LabError(f"lab {self.prefix}: host {host!r} has no link {ifname!r}")

    def recreate_link(self, host: str, ifname: str = "eth0", *, missing_for: float = 0.0) -> int:
        raise LabError(f"lab {self.prefix}: recreating a link is not supported on Mininet (its links are Mininet's)")

    def describe(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "executor": "mininet",
            "log_dir": str(self.log_dir),
            "hosts": {h: self.netns(h) for h in self.hosts},
            "switches": {s.name: {"netns": None, "bridge": self.bridge_ifname(s.name)} for s in self.topology.switches},
        }

    # ------------------------------------------------------------------ build
    def _build_network(self) -> None:
        """Mininet builds the network; the hosts' namespaces get the lab's names; the lab configures them."""
        why = available()
        if why:
            raise LabError(f"the Mininet executor {why}")
        with open(self.log_dir / "mininet.log", "ab") as err:
            self._runner = subprocess.Popen([SYSTEM_PYTHON, str(_HERE / "mininet_runner.py")], stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=err, text=True,
                                            start_new_session=True)  # fmt: skip
        answer = self._request({"prefix": self.prefix, "topology": self.topology.to_dict(),
                                "nft_tables": [f"{TABLE}_{self.prefix}"]})  # fmt: skip
        self._shells = {str(h): int(pid) for h, pid in answer["pids"].items()}
        self._bridges = [str(b) for b in answer["bridges"]]
        self._ports = [str(p) for p in answer["ports"]]
        for host in self.hosts:
            pyroute2_netns.attach(self.netns(host), self._shells[host])
        errors = _run_children([(f"host {h!r}", self._host_job(h, fresh=False)) for h in self.hosts])
        if errors:
            raise LabError(f"configuring Mininet lab {self.prefix} (topology {self.topology.name!r}) failed:\n  "
                           + "\n  ".join(errors))  # fmt: skip

    def _request(self, obj: dict[str, Any]) -> dict[str, Any]:
        runner = self._runner
        if runner is None or runner.stdin is None or runner.stdout is None:
            raise LabError(f"lab {self.prefix}: the Mininet runner is not running")
        try:
            runner.stdin.write(json.dumps(obj) + "\n")
            runner.stdin.flush()
        except BrokenPipeError:
            pass
        line = runner.stdout.readline()
        answer: dict[str, Any] = json.loads(line) if line.strip() else {"error": "it exited"}
        if "error" in answer:
            log = (self.log_dir / "mininet.log").read_text(errors="replace")[-2000:]
            raise LabError(f"lab {self.prefix}: the Mininet runner failed: {answer['error']}{log}".rstrip())
        return answer

    # ------------------------------------------------------------------ teardown
    def _remove_network(self) -> None:
        """Kill what else runs in the hosts (a daemon's forked child: the lab's), leaving Mininet's shells for
        Mininet to stop; drop the names; stop the runner (network, the run's own links, bridges, nft table)."""
        names = self.namespaces()
        shells = set(self._shells.values())
        for _ in range(3):
            left = [p for p in cleanup.netns_pids(names) if p not in shells and p != os.getpid()]
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if not left:
                break
            time.sleep(0.05)
        for name in names:
            path = cleanup.NETNS_DIR / name
            if path.exists():
                cleanup.umount(path)
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        self._stop_runner()

    def _stop_runner(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        try:
            if runner.poll() is None and runner.stdin is not None:
                with contextlib.suppress(OSError):
                    runner.stdin.write(json.dumps({"op": "stop"}) + "\n")
                    runner.stdin.close()
            runner.wait(60)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
        for f in (runner.stdout,):
            if f is not None:
                f.close()
