"""Run a VRRP daemon in a lab host: ours (``pykeepalived``) or Debian's keepalived 2.2.7, through one API.

The lab, the demo, bench/ and the tests all start daemons here, so every run gets the same things:

* keepalived's own command line (``-n -l -D -P -f CONF -p/-r/-c PIDFILES``), which both implementations read;
* a run directory of its own (``<lab log dir>/daemons/<label>/``) holding the config, the pid files and the
  dump files, never the host's ``/run`` or ``/tmp`` defaults: keepalived 2.2.7 writes its SIGUSR1/SIGUSR2 dumps
  to ``$TMPDIR`` (``/tmp`` when unset), ours to ``$PYKEEPALIVED_TMP_DIR``, and both are pointed at the run
  directory, so parallel runs never read each other's files;
* start, wait until ready, signals (stop = SIGTERM, kill = SIGKILL, pause/resume, reload = SIGHUP, dumps);
* the state transitions it logged (both log ``(VI_1) Entering MASTER STATE``; ours logs the reason on the line
  before), for the history;
* which host holds a VIP, asked over netlink inside each host's namespace.

Example::

    with Lab(topology) as lab:
        d = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150))))
        d.wait_ready()
        assert wait_vip_holders(lab, "10.0.0.100", ["lb1"], hosts=["lb1", "lb2"]) == ["lb1"]
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from netns_lab.nsenter import call_in_netns
from netns_lab.process import LabProcess
from netns_lab.waiting import wait_until

if TYPE_CHECKING:
    from netns_lab.lab import Lab

__all__ = [
    "IMPLS",
    "KEEPALIVED",
    "Daemon",
    "DaemonError",
    "DaemonSpec",
    "Impl",
    "LocalDaemon",
    "LoggedPriority",
    "LoggedTransition",
    "host_addresses",
    "instance_block",
    "keepalived_conf",
    "ours_command",
    "parse_transitions",
    "run_daemon_cli",
    "start_daemon",
    "vip_holders",
    "wait_vip_holders",
]

#: Debian's keepalived, the anchor every behaviour is compared with
KEEPALIVED = "/usr/sbin/keepalived"
Impl = Literal["pykeepalived", "keepalived"]
IMPLS: tuple[Impl, ...] = ("pykeepalived", "keepalived")
_REPO = Path(__file__).resolve().parents[1]


class DaemonError(RuntimeError):
    """A daemon did not start, exited early, or did not answer a dump; the message ends with its log tail."""


# ------------------------------------------------------------------ configuration text


def instance_block(
    name: str = "VI_1",
    *,
    vrid: int = 51,
    priority: int = 100,
    advert_int: float = 0.1,
    vips: Iterable[str] = ("10.0.0.100/24",),
    version: int | None = 3,
    extra: str = "",
    interface: str = "eth0",
    state: str = "BACKUP",
) -> str:
    """One ``vrrp_instance`` block in keepalived syntax (so both implementations read it)."""
    vip_lines = "\n".join(f"    {v}" for v in vips)
    ver = f"  version {version}\n" if version is not None else ""
    return (
        f"vrrp_instance {name} {{\n  state {state}\n  interface {interface}\n  virtual_router_id {vrid}\n"
        f"  priority {priority}\n  advert_int {advert_int:g}\n{ver}{extra}"
        f"  virtual_ipaddress {{\n{vip_lines}\n  }}\n}}\n"
    )


def keepalived_conf(*blocks: str, router_id: str = "lab", global_extra: str = "") -> str:
    """A whole keepalived.conf: ``global_defs`` (with ``global_extra`` lines) then ``blocks``."""
    return f"global_defs {{\n  router_id {router_id}\n{global_extra}}}\n" + "".join(blocks)


# ------------------------------------------------------------------ the spec and the running daemon


@dataclass(frozen=True)
class DaemonSpec:
    """What to run where: ``config`` is the keepalived.conf text, ``impl`` which daemon reads it.

    ``label`` names the run directory and the log (default ``<host>-<impl>``; a second daemon with the same
    label in one lab gets ``-2``, ...). ``vrrp_only`` gives ``-P``; ``extra_args`` go after keepalived's
    flags (e.g. ``("-X",)``); ``env`` adds variables; ``entry`` replaces our daemon's command (a test variant
    such as ``python -m netns_lab.broken_daemon``; ours only).
    """

    host: str
    config: str
    impl: Impl = "pykeepalived"
    label: str | None = None
    vrrp_only: bool = True
    log_detail: bool = True
    extra_args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    entry: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.impl not in IMPLS:
            raise ValueError(f"impl must be one of {', '.join(IMPLS)}, not {self.impl!r}")
        if self.entry and self.impl != "pykeepalived":
            raise ValueError("entry replaces our daemon's command; keepalived runs as installed")


@dataclass(frozen=True)
class LoggedTransition:
    """A state change a daemon logged: ``t`` is epoch seconds (ms resolution for ours, 1 s for keepalived's
    console log); ``reason`` is ours only (keepalived does not log one)."""

    t: float
    instance: str
    state: str
    reason: str = ""


@dataclass(frozen=True)
class LoggedPriority:
    """``(VI_1) Changing effective priority from 100 to 70`` (both implementations log it)."""

    t: float
    instance: str
    old: int
    new: int


# Ours: "Fri Dec 04 04:10:57.123: msg" (no year); keepalived: "Fri Dec  4 04:10:57 2026: msg".
_LOG_LINE = re.compile(
    r"^(?P<stamp>\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d)(?:\.(?P<ms>\d{3}))?(?: (?P<year>\d{4}))?: (?P<msg>.*)$"
)
_ENTERING = re.compile(r"\((?P<inst>[^)]+)\) Entering (?P<state>[A-Z]+) STATE(?: \((?P<reason>[^)]*)\))?")
#: ours logs the reason of a transition on the line before keepalived's "Entering ... STATE" words
_REASON = re.compile(r"\((?P<inst>[^)]+)\) transition reason: (?P<reason>\S+)")
_PRIORITY = re.compile(r"\((?P<inst>[^)]+)\) Changing effective priority from (?P<old>\d+) to (?P<new>\d+)")


def _log_time(m: re.Match[str]) -> float:
    year = m.group("year") or str(time.localtime().tm_year)
    stamp = " ".join(m.group("stamp").split())
    t = time.mktime(time.strptime(f"{stamp} {year}", "%a %b %d %H:%M:%S %Y"))
    return t + int(m.group("ms") or 0) / 1000


def parse_transitions(log: str) -> tuple[list[LoggedTransition], list[LoggedPriority]]:
    """State changes and effective-priority changes found in a daemon's console log, in log order."""
    states: list[LoggedTransition] = []
    prios: list[LoggedPriority] = []
    reasons: dict[str, str] = {}
    for line in log.splitlines():
        m = _LOG_LINE.match(line)
        if m is None:
            continue
        msg = m.group("msg")
        if (r := _REASON.search(msg)) is not None:
            reasons[r.group("inst")] = r.group("reason")
        elif (e := _ENTERING.search(msg)) is not None:
            reason = reasons.pop(e.group("inst"), None) or e.group("reason") or ""
            states.append(LoggedTransition(_log_time(m), e.group("inst"), e.group("state"), reason))
        elif (p := _PRIORITY.search(msg)) is not None:
            prios.append(LoggedPriority(_log_time(m), p.group("inst"), int(p.group("old")), int(p.group("new"))))
    return states, prios


def ours_command() -> list[str]:
    """Our daemon's entry point: the console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("pykeepalived")
    if script.exists():
        return [str(script)]
    found = shutil.which("pykeepalived")
    if found:
        return [found]
    return [sys.executable, "-m", "pykeepalived"]


class Daemon:
    """One daemon run in a lab host (see :func:`start_daemon`); restartable with the same run directory."""

    def __init__(self, lab: Lab, spec: DaemonSpec, run_dir: Path) -> None:
        self.lab = lab
        self.spec = spec
        self.run_dir = run_dir
        self.proc: LabProcess | None = None
        #: every process this Daemon started, oldest first (each start has its own log file)
        self.procs: list[LabProcess] = []

    # ------------------------------------------------------------------ files
    @property
    def host(self) -> str:
        return self.spec.host

    @property
    def impl(self) -> Impl:
        return self.spec.impl

    @property
    def conf_path(self) -> Path:
        return self.run_dir / "keepalived.conf"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "keepalived.pid"

    @property
    def vrrp_pid_file(self) -> Path:
        return self.run_dir / "vrrp.pid"  # keepalived 2.2.7's name (/run/vrrp.pid)

    @property
    def checkers_pid_file(self) -> Path:
        return self.run_dir / "checkers.pid"  # keepalived 2.2.7's name (/run/checkers.pid)

    @property
    def pid_files(self) -> list[Path]:
        return [self.pid_file, self.vrrp_pid_file, self.checkers_pid_file]

    @property
    def data_file(self) -> Path:
        """Where SIGUSR1 writes keepalived's text dump (both implementations)."""
        return self.run_dir / "keepalived.data"

    @property
    def stats_file(self) -> Path:
        """Where SIGUSR2 writes keepalived's text stats (both implementations)."""
        return self.run_dir / "keepalived.stats"

    @property
    def own_dump_file(self) -> Path:
        """Our daemon's own JSON (state, counters, transitions), written on every dump signal beside
        keepalived's files (which hold keepalived's formats)."""
        return self.run_dir / "pykeepalived.json"

    def write_config(self, text: str) -> None:
        """Replace the config file (then :meth:`reload`, or start)."""
        self.conf_path.write_text(text)

    def argv(self) -> list[str]:
        """The command line: keepalived's flags for both implementations, pid files in the run directory."""
        flags = ["-n", "-l"]
        if self.spec.log_detail:
            flags.append("-D")
        if self.spec.vrrp_only:
            flags.append("-P")
        flags += ["-f", str(self.conf_path), "-p", str(self.pid_file), "-r", str(self.vrrp_pid_file),
                  "-c", str(self.checkers_pid_file)]
        if self.impl == "keepalived":
            return [KEEPALIVED, *flags, "-G", *self.spec.extra_args]
        return [*(self.spec.entry or ours_command()), *flags, *self.spec.extra_args]

    def env(self) -> dict[str, str]:
        """Dump files go to the run directory: ``$TMPDIR`` is keepalived's KA_TMP_DIR, ours reads its own."""
        env = {"TMPDIR": str(self.run_dir), "PYKEEPALIVED_TMP_DIR": str(self.run_dir)}
        if self.impl == "pykeepalived":
            env["PYTHONPATH"] = str(_REPO)
        env.update(self.spec.env)
        return env

    # ------------------------------------------------------------------ life
    def start(self) -> Daemon:
        """Start (or start again after stop/kill); the config file is written on the first start."""
        if self.running():
            raise DaemonError(f"{self.label}: already running (pid {self.pid})")
        if not self.conf_path.exists():
            self.write_config(self.spec.config)
        for p in self.pid_files:  # a killed daemon leaves them behind; they are this run's own
            p.unlink(missing_ok=True)
        self.proc = self.lab.start(self.host, self.argv(), name=self.label, env=self.env())
        self.procs.append(self.proc)
        return self

    @property
    def label(self) -> str:
        return self.run_dir.name

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        """True while the current process has not exited (a paused one still runs), like LabProcess."""
        return self.proc is not None and self.proc.running()

    def _ready_now(self) -> bool:
        if not self.vrrp_pid_file.exists():
            return False
        text = self.log()
        if self.impl == "pykeepalived":
            return "VRRP started" in text
        return _ENTERING.search(text) is not None

    def wait_ready(self, timeout: float = 10.0) -> Daemon:
        """Block until the daemon serves (its VRRP pid file is written and it logged its instances' first
        state; ours logs ``VRRP started``): then signals are handled, not fatal.  DaemonError if it exits."""

        def ready() -> bool:
            if not self.running():
                raise DaemonError(f"{self.label}: exited {self.returncode} before it was ready\n{self.log_tail()}")
            return self._ready_now()

        if not wait_until(ready, timeout, 0.02):
            raise DaemonError(f"{self.label}: not ready after {timeout:g} s\n{self.log_tail()}")
        return self

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode if self.proc is not None else None

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the process to end; its exit status or None."""
        return self.proc.wait(timeout) if self.proc is not None else None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM (a graceful stop: priority-0 adverts, VIPs removed), SIGKILL after ``timeout`` s."""
        return self.proc.stop(timeout) if self.proc is not None else None

    def kill(self) -> None:
        """SIGKILL to the whole process group: a crash (no goodbye advert; VIPs stay until the host forgets)."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(5)

    def pause(self) -> None:
        """SIGSTOP the process group (resume with :meth:`resume`)."""
        if self.proc is not None:
            self.proc.pause()

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.resume()

    def signal(self, sig: int) -> None:
        """Send ``sig`` to the daemon's whole process group (keepalived's parent and children alike)."""
        if self.proc is not None:
            self.proc.signal(sig)

    def signal_vrrp(self, sig: int) -> None:
        """Send ``sig`` to the VRRP process only (its pid file's pid: the VRRP child, keepalived's and ours)."""
        try:
            pid = int(self.vrrp_pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            raise DaemonError(f"{self.label}: no VRRP pid in {self.vrrp_pid_file}\n{self.log_tail()}") from None
        os.kill(pid, sig)

    def reload(self) -> None:
        """SIGHUP to the main process (keepalived's parent passes it to its children): re-read the config."""
        if self.proc is not None and self.proc.running():
            os.kill(self.proc.pid, signal.SIGHUP)

    # ------------------------------------------------------------------ what it says
    def log(self) -> str:
        """What the current (latest) process printed."""
        return self.proc.log_text() if self.proc is not None else ""

    def all_logs(self) -> str:
        """What every process of this Daemon printed, oldest start first."""
        return "".join(p.log_text() for p in self.procs)

    def log_tail(self, chars: int = 2000) -> str:
        return self.log()[-chars:]

    def transitions(self) -> list[LoggedTransition]:
        """State changes it logged over all its starts, in order."""
        return parse_transitions(self.all_logs())[0]

    def priority_changes(self) -> list[LoggedPriority]:
        """Effective-priority changes it logged over all its starts, in order."""
        return parse_transitions(self.all_logs())[1]

    def _dump(self, sig: int, path: Path, timeout: float) -> str:
        self.wait_ready(timeout)  # before the handler is installed a dump signal would kill it
        old = path.stat().st_mtime_ns if path.exists() else None
        self.signal_vrrp(sig)

        def fresh() -> str | None:
            try:
                if path.stat().st_mtime_ns == old:
                    return None
                text = path.read_text()
            except FileNotFoundError:
                return None
            return text or None

        text = wait_until(fresh, timeout, 0.02)
        if text is None:
            raise DaemonError(f"{self.label}: no {path.name} after signal {sig}\n{self.log_tail()}")
        return str(text)

    def dump_data(self, timeout: float = 5.0) -> str:
        """SIGUSR1 and the text of the data dump it writes."""
        return self._dump(signal.SIGUSR1, self.data_file, timeout)

    def dump_stats(self, timeout: float = 5.0) -> str:
        """SIGUSR2 and the text of the stats dump it writes."""
        return self._dump(signal.SIGUSR2, self.stats_file, timeout)

    def stats(self, timeout: float = 5.0) -> dict[str, Any]:
        """Our daemon's own JSON (state and counters of every instance), written on SIGUSR2."""
        if self.impl != "pykeepalived":
            raise DaemonError(f"{self.label}: stats() reads pykeepalived's JSON dump; use dump_stats() for text")
        data: dict[str, Any] = json.loads(self._dump(signal.SIGUSR2, self.own_dump_file, timeout))
        return data

    def instance_states(self, timeout: float = 5.0) -> dict[str, str]:
        """Instance name -> state (MASTER, BACKUP, FAULT, ...), from a fresh dump of either implementation."""
        if self.impl == "pykeepalived":
            return {name: str(i["state"]) for name, i in self.stats(timeout)["instances"].items()}
        out: dict[str, str] = {}
        current: str | None = None
        for line in self.dump_data(timeout).splitlines():
            s = line.strip()
            if s.startswith("VRRP Instance = "):
                current = s.split("=", 1)[1].strip()
            elif current is not None and s.startswith("State = ") and current not in out:
                out[current] = s.split("=", 1)[1].strip()
        return out

    def state(self, instance: str = "VI_1", timeout: float = 5.0) -> str:
        """The state of one instance now (a dump)."""
        states = self.instance_states(timeout)
        if instance not in states:
            raise DaemonError(f"{self.label}: no instance {instance!r} (has {', '.join(states) or 'none'})")
        return states[instance]

    def __repr__(self) -> str:
        return f"<Daemon {self.label} {self.impl} in {self.host} pid={self.pid} running={self.running()}>"


def start_daemon(lab: Lab, spec: DaemonSpec, *, wait: bool = False, timeout: float = 10.0) -> Daemon:
    """Make the run directory of ``spec`` in ``lab``, write its config and start it (wait until ready if
    ``wait``)."""
    base = spec.label or f"{spec.host}-{spec.impl}"
    root = lab.log_dir / "daemons"
    run_dir = root / base
    n = 1
    while run_dir.exists():
        n += 1
        run_dir = root / f"{base}-{n}"
    run_dir.mkdir(parents=True)
    daemon = Daemon(lab, spec, run_dir).start()
    if wait:
        daemon.wait_ready(timeout)
    return daemon


# ------------------------------------------------------------------ who holds a VIP


def _bare(address: str) -> str:
    return address.split("/", 1)[0].split("%", 1)[0]


def host_addresses(lab: Lab, host: str) -> set[str]:
    """Every address configured in ``host`` (bare, any interface), read over netlink in its namespace."""
    from pyroute2 import IPRoute

    def read() -> set[str]:
        with IPRoute() as ipr:
            return {str(msg.get_attr("IFA_ADDRESS")) for msg in ipr.get_addr()}

    return call_in_netns(lab.netns(host), read)


def vip_holders(lab: Lab, vip: str, hosts: Iterable[str] | None = None) -> list[str]:
    """The hosts (default: all of the lab's) that have ``vip`` (bare or with a prefix) on any interface."""
    want = _bare(vip)
    return [h for h in (lab.hosts if hosts is None else hosts) if want in host_addresses(lab, h)]


def wait_vip_holders(
    lab: Lab, vip: str, expected: Sequence[str], timeout: float = 5.0, hosts: Iterable[str] | None = None
) -> list[str]:
    """Wait until exactly ``expected`` hold ``vip``; returns the holders last seen (assert on it)."""
    host_list = list(lab.hosts if hosts is None else hosts)
    seen: list[str] = []

    def check() -> bool:
        nonlocal seen
        seen = vip_holders(lab, vip, host_list)
        return sorted(seen) == sorted(expected)

    wait_until(check, timeout, 0.05)
    return seen


# ------------------------------------------------------------------ one-shot runs (command-line checks)


def run_daemon_cli(*args: str, run_dir: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Our daemon with ``-n -l ARGS`` and pid files in ``run_dir``, run to completion in a throwaway network
    namespace (when we may make one), for command-line checks: should a regression let it start, it never
    touches the host's interfaces."""
    private = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []
    return subprocess.run(
        [*private, sys.executable, "-m", "pykeepalived", "-n", "-l", *args,
         "-p", str(run_dir / "m.pid"), "-r", str(run_dir / "v.pid")],
        capture_output=True, text=True, timeout=timeout, check=False,
        env={**os.environ, "PYTHONPATH": str(_REPO), "PYKEEPALIVED_TMP_DIR": str(run_dir)},
    )


# ------------------------------------------------------------------ a daemon in the caller's own namespace


class LocalDaemon:
    """Ours or keepalived, run as a process in the caller's network namespace (a director that is the kernel
    instance itself, as in ``netns_lab.lvslab``), with keepalived's flags, its config and pid files in
    ``run_dir`` and its output in ``run_dir/daemon.log``.  ``args`` are the part flags (``-C``, ``-P``, ...)."""

    def __init__(self, run_dir: Path, config: str, *args: str, impl: Impl = "pykeepalived") -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = run_dir
        self.conf_path = run_dir / "keepalived.conf"
        self.conf_path.write_text(config)
        self.log_path = run_dir / "daemon.log"
        pids = ["-p", str(run_dir / "keepalived.pid"), "-r", str(run_dir / "vrrp.pid"),
                "-c", str(run_dir / "checkers.pid")]
        cmd = [KEEPALIVED, "-G"] if impl == "keepalived" else ours_command()
        self.argv = [*cmd, "-n", "-l", "-D", *args, "-f", str(self.conf_path), *pids]
        self.env = {**os.environ, "TMPDIR": str(run_dir), "PYKEEPALIVED_TMP_DIR": str(run_dir)}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalDaemon:
        with open(self.log_path, "ab", buffering=0) as log:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_log(self, pattern: str, count: int = 1, timeout: float = 30.0) -> bool:
        """Wait until ``pattern`` (a regular expression) has matched ``count`` lines of the log."""
        rx = re.compile(pattern)
        return bool(wait_until(lambda: len(rx.findall(self.log())) >= count, timeout, 0.05))

    def signal(self, sig: int) -> None:
        """To the main process only (keepalived's parent forwards what its children should see)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (a clean stop), then SIGKILL to the whole group after ``timeout`` s; the exit status."""
        if self.proc is None:
            return None
        self.signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait(10)

    def __enter__(self) -> LocalDaemon:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
