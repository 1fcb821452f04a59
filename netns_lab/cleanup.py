"""Run state files, namespace removal and ``netns-lab clean``.

Every run writes ``/run/netns_lab/<prefix>.json`` *before* it creates anything, naming its owner (pid and
process start time, so a recycled pid is not mistaken for the owner) and every namespace it may create.
Teardown removes the namespaces and then the state file. ``clean`` therefore only ever touches namespaces
listed in the state file of a run whose owner is dead: another engineer's live run, or a namespace that is not
ours, is never touched.

Removing a namespace means: kill every process whose network namespace it is (a namespace lives on while a
process is inside it, and so do its veths), then unmount and unlink ``/run/netns/<name>``. Destroying the
namespace destroys its interfaces, so the veths and bridges go with it. Everything here is plain syscalls,
with no netlink or asyncio, so that it is safe to call from a signal handler.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import json
import os
import re
import signal
import tempfile
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil  # type: ignore[import-untyped,unused-ignore]

__all__ = [
    "NETNS_DIR",
    "STATE_DIR",
    "CleanReport",
    "RunState",
    "clean",
    "kill_netns_processes",
    "list_runs",
    "netns_pids",
    "remove_netns",
    "umount",
]

STATE_DIR = Path(os.environ.get("NETNS_LAB_STATE_DIR", "/run/netns_lab"))
NETNS_DIR = Path("/run/netns")
PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{1,7}$")
_MNT_DETACH = 2
_AUTO_NS_RE = re.compile(
    r"^nl[0-9a-f]{4}-"
)  # names of runs with an automatic prefix (reported, never removed)


@dataclass
class RunState:
    """What a run owns. Written before anything is created; removed after everything is gone."""

    prefix: str
    pid: int
    pid_start: float
    namespaces: list[str] = field(default_factory=list)
    log_dir: str = ""
    topology: str = ""
    created: float = 0.0
    #: the scenario a ``netns-lab run`` / ``up`` runs ("" for a bare lab)
    scenario: str = ""
    #: a ``netns-lab up`` run: its owner is the run's keeper process, which answers on :attr:`control_path`
    interactive: bool = False

    @property
    def path(self) -> Path:
        return STATE_DIR / f"{self.prefix}.json"

    @property
    def control_path(self) -> Path:
        """The Unix socket an interactive run's keeper listens on (``netns-lab fault`` / ``down``)."""
        return STATE_DIR / f"{self.prefix}.sock"

    def owner_alive(self) -> bool:
        """True if the owning process still runs (same pid *and* same start time)."""
        try:
            proc = psutil.Process(self.pid)
            same = abs(float(proc.create_time()) - self.pid_start) < 0.5
            return same and bool(proc.status() != psutil.STATUS_ZOMBIE)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            return False

    def reserve(self) -> None:
        """Create the state file; FileExistsError if the prefix is already taken (atomic via link())."""
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=STATE_DIR, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump(asdict(self), f, indent=1)
            os.link(tmp, self.path)
        finally:
            os.unlink(tmp)

    def release(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @classmethod
    def load(cls, path: Path) -> RunState:
        """Read a state file; ValueError naming the file if it is not one of ours."""
        try:
            data = json.loads(path.read_text())
            return cls(
                prefix=str(data["prefix"]),
                pid=int(data["pid"]),
                pid_start=float(data["pid_start"]),
                namespaces=[str(n) for n in data.get("namespaces", [])],
                log_dir=str(data.get("log_dir", "")),
                topology=str(data.get("topology", "")),
                created=float(data.get("created", 0.0)),
                scenario=str(data.get("scenario", "")),
                interactive=bool(data.get("interactive", False)),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}: not a netns_lab state file ({exc})") from None


def process_start_time(pid: int) -> float:
    return float(psutil.Process(pid).create_time())


def _ns_key(path: str | Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def netns_pids(names: Iterable[str]) -> dict[int, str]:
    """Pids of live processes whose network namespace is one of ``names`` -> that namespace name."""
    keys: dict[tuple[int, int], str] = {}
    for name in names:
        key = _ns_key(NETNS_DIR / name)
        if key is not None:
            keys[key] = name
    if not keys:
        return {}
    out: dict[int, str] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        key = _ns_key(f"/proc/{entry.name}/ns/net")
        if key in keys:
            out[int(entry.name)] = keys[key]
    return out


def kill_netns_processes(names: Iterable[str], timeout: float = 3.0) -> list[int]:
    """SIGKILL every process inside the namespaces ``names`` until none is left (or ``timeout``)."""
    names = list(names)
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = netns_pids(names)
        pids.pop(os.getpid(), None)  # never ourselves (we only ever enter namespaces in forked children)
        if not pids:
            return killed
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
        # Reap our own children so they do not linger as zombies (a zombie has left its namespace already).
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if time.monotonic() > deadline:
            return killed
        time.sleep(0.01)


_libc: ctypes.CDLL | None = None


def umount(path: Path) -> None:
    """Detach the mount at ``path`` (a namespace name in /run/netns); plain syscall, signal-handler safe."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _libc.umount2(str(path).encode(), _MNT_DETACH)


def remove_netns(names: Iterable[str]) -> list[str]:
    """Kill the processes inside, then unmount and unlink each namespace; the names actually removed."""
    names = list(names)
    kill_netns_processes(names)
    removed = []
    for name in names:
        path = NETNS_DIR / name
        if not path.exists():
            continue
        umount(path)
        try:
            path.unlink()
            removed.append(name)
        except FileNotFoundError:
            pass
    return removed


def list_runs() -> list[tuple[Path, RunState | None]]:
    """All state files (a broken file gives None as its state)."""
    if not STATE_DIR.is_dir():
        return []
    out: list[tuple[Path, RunState | None]] = []
    for path in sorted(STATE_DIR.glob("*.json")):
        try:
            out.append((path, RunState.load(path)))
        except ValueError:
            out.append((path, None))
    return out


@dataclass
class CleanReport:
    removed: dict[str, list[str]] = field(default_factory=dict)  # prefix -> namespaces removed
    kept: dict[str, int] = field(default_factory=dict)  # prefix -> live owner pid
    broken: list[str] = field(default_factory=list)  # unreadable state files (left alone)
    unowned: list[str] = field(default_factory=list)  # lab-like namespaces no state file claims (left alone)
    boxes: list[str] = field(default_factory=list)  # dead systemd boxes whose cgroups and work dirs were removed

    def summary(self) -> str:
        lines = []
        for prefix, names in self.removed.items():
            lines.append(f"removed dead run {prefix}: {len(names)} namespace(s) {' '.join(names)}".rstrip())
        for prefix, pid in self.kept.items():
            lines.append(f"kept live run {prefix} (owner pid {pid} is running)")
        for path in self.broken:
            lines.append(f"skipped {path}: not a readable netns_lab state file")
        if self.unowned:
            lines.append(
                f"left alone {len(self.unowned)} namespace(s) named like lab runs but claimed by no state "
                f"file (not provably ours): {' '.join(self.unowned)}"
            )
        for prefix in self.boxes:
            lines.append(f"removed dead systemd box {prefix}: its cgroups and work directory")
        if not lines:
            lines.append(f"nothing to clean ({STATE_DIR} has no runs)")
        return "\n".join(lines)


def clean(prefixes: Iterable[str] | None = None) -> CleanReport:
    """Remove the leftovers of dead runs (optionally only ``prefixes``); live runs are left alone."""
    wanted = set(prefixes) if prefixes is not None else None
    report = CleanReport()
    for path, state in list_runs():
        if state is None:
            report.broken.append(str(path))
            continue
        if wanted is not None and state.prefix not in wanted:
            continue
        if state.owner_alive():
            report.kept[state.prefix] = state.pid
            continue
        # Only names of this run's scheme: a state file can never make us delete someone else's namespace.
        names = [n for n in state.namespaces if n.startswith(f"{state.prefix}-") and "/" not in n]
        report.removed[state.prefix] = remove_netns(names)
        state.release()
    if wanted is None and NETNS_DIR.is_dir():
        claimed = {n for _, st in list_runs() if st is not None for n in st.namespaces}
        report.unowned = sorted(n for n in os.listdir(NETNS_DIR) if _AUTO_NS_RE.match(n) and n not in claimed)
    if wanted is None:
        from netns_lab.systemd_box import remove_dead_boxes

        report.boxes = remove_dead_boxes()
    return report
