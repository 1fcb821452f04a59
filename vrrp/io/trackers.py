"""Tracker I/O loops: ``vrrp_script``, ``track_file`` and ``vrrp_track_process`` emit :class:`TrackerUpdate`.

The router (sans-IO) owns what an update *means* (weights, ``reverse``, FAULT for weight 0, clamping); this
module only observes the world and reports, with keepalived's semantics for *when* a state changes:

* ``vrrp_script`` -- keepalived's rise/fall counter (``vrrp_script_child_thread``): ``result`` runs from 0 to
  ``rise + fall - 1`` and the script is up when ``result >= rise``.  A script starts "initialising" with
  ``result = rise - 1`` (one success is enough, and the first failure is reported), or failed with
  ``init_fail``.  It runs every ``interval`` seconds, measured from the previous start; a timeout (default:
  the interval) kills its process group and counts as a failure.
* ``track_file`` -- the file holds an integer (``strtol`` base 0: ``12``, ``-3``, ``0x1f``, ``017``; leading
  white space allowed, trailing text ignored).  A missing or empty file, or text without a number, reads as
  0; a number outside the C ``int`` range is logged and ignored.  keepalived watches the directory with
  inotify (close-after-write, delete, move); so do we, and a deletion reads as 0.  ``init_file`` creates the
  file (or overwrites it) at start.
* ``vrrp_track_process`` -- counts running (non-zombie) processes whose ``/proc/PID/comm`` equals the name,
  or, with ``full_command``/parameters, whose argv[0] equals it and whose parameters match (exact,
  ``partial``: the first n match, ``initial``: the last may be longer).  Up when
  ``quorum <= count <= quorum_max``.  Gaining or losing quorum through a fork waits ``fork_delay``; losing it
  through process exit waits ``terminate_delay``; a change that reverts within the delay is never reported.
  Like keepalived we follow the kernel's process events (proc connector: sub-millisecond); the connector
  exists only in the initial network namespace, so inside a lab namespace we poll ``/proc`` every
  ``poll_interval`` instead (psutil lists the pids; one read of ``/proc/PID/stat`` per process).

Every loop takes ``clock`` and ``sleep`` so tests drive it with a virtual clock and no real waiting.
"""

from __future__ import annotations

import asyncio
import ctypes
import enum
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, Protocol

import psutil  # type: ignore[import-untyped,unused-ignore]  # no stubs unless types-psutil is installed

from vrrp.core.actions import Action
from vrrp.io.scripts import Script, ScriptResult, run_script

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

INT_MIN = -(2**31)
INT_MAX = 2**31 - 1


class TrackerConfigError(ValueError):
    """Tracker settings that cannot work; the message names the tracker and the field."""


class TrackerKind(enum.Enum):
    """Which keepalived block produced an update (the names are keepalived's keywords)."""

    SCRIPT = "vrrp_script"
    FILE = "track_file"
    PROCESS = "vrrp_track_process"


@dataclass(frozen=True)
class TrackerUpdate:
    """One observation for the router.

    Scripts and processes report ``up`` (True/False) and leave ``value`` None; a track file reports its
    integer ``value`` and leaves ``up`` None (the router multiplies it by the weight, or treats non-zero as
    failure for weight 0).  ``now`` is the tracker clock's time of the observation.
    """

    kind: TrackerKind
    name: str
    up: bool | None = None
    value: int | None = None
    now: float = 0.0


Emit = Callable[[TrackerUpdate], None]


class TrackerSink(Protocol):
    """What consumes updates: ``vrrp.core.router``'s virtual router has exactly these two methods."""

    def set_tracker_state(self, name: str, up: bool, now: int) -> list[Action]: ...

    def set_tracker_value(self, name: str, value: int, now: int) -> list[Action]: ...


def deliver(update: TrackerUpdate, sink: TrackerSink, now: int) -> list[Action]:
    """Hand ``update`` to the router (``now``: the router's integer-microsecond clock); return its actions."""
    if update.value is not None:
        return sink.set_tracker_value(update.name, update.value, now)
    if update.up is None:
        raise ValueError(f"tracker update for {update.name!r} carries neither a state nor a value")
    return sink.set_tracker_state(update.name, update.up, now)


def _check(cond: bool, block: str, name: str, message: str) -> None:
    if not cond:
        raise TrackerConfigError(f"{block} {name}: {message}")


def _check_weight(block: str, name: str, weight: int, limit: int) -> None:
    _check(-limit <= weight <= limit, block, name, f"weight must be in [-{limit}, {limit}] (got {weight})")


# ============================================================================================== vrrp_script


@dataclass(frozen=True)
class ScriptTrackerSettings:
    """A ``vrrp_script`` block.  ``weight``/``weight_reverse`` are carried for the router; this module ignores
    them.  ``timeout`` None means "the interval", keepalived's default."""

    name: str
    script: Script
    interval: float = 1.0
    timeout: float | None = None
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False

    def __post_init__(self) -> None:
        block = "vrrp_script"
        _check(self.interval > 0, block, self.name, f"interval must be > 0 (got {self.interval})")
        _check(
            self.timeout is None or self.timeout > 0,
            block,
            self.name,
            f"timeout must be > 0 (got {self.timeout})",
        )
        _check(self.rise >= 1, block, self.name, f"rise must be >= 1 (got {self.rise})")
        _check(self.fall >= 1, block, self.name, f"fall must be >= 1 (got {self.fall})")
        _check_weight(block, self.name, self.weight, 253)

    @property
    def effective_timeout(self) -> float:
        """keepalived: ``timeout`` defaults to ``interval``."""
        return self.timeout if self.timeout is not None else self.interval


@dataclass
class ScriptCounter:
    """keepalived's rise/fall bookkeeping for one script, without I/O.

    :meth:`record` takes one run's success and returns the newly reported state (True up / False down) or None
    when nothing is reported.
    """

    rise: int
    fall: int
    init_fail: bool = False
    result: int = field(init=False)
    initialising: bool = field(init=False)

    def __post_init__(self) -> None:
        self.result = 0 if self.init_fail else self.rise - 1
        self.initialising = not self.init_fail

    @property
    def up(self) -> bool | None:
        """The current state; None until the first result when the script started without ``init_fail``."""
        if self.initialising:
            return None
        return self.result >= self.rise

    def record(self, success: bool) -> bool | None:
        """Apply one result exactly as ``vrrp_script_child_thread`` does."""
        reported: bool | None = None
        top = self.rise + self.fall - 1
        if success:
            if self.result < self.rise - 1:
                self.result += 1
            elif self.result != top:
                if self.result < self.rise:
                    reported = True
                self.result = top
        else:
            if self.result > self.rise:
                self.result -= 1
            else:
                if self.result == self.rise or self.initialising:
                    reported = False
                self.result = 0
        self.initialising = False
        return reported


class ScriptRunner(Protocol):
    """How a script tracker runs its script (``vrrp.io.scripts.run_script`` unless a test substitutes it)."""

    def __call__(self, script: Script, /, *, timeout: float | None) -> Awaitable[ScriptResult]: ...


def _describe(result: ScriptResult) -> str:
    if result.timed_out:
        return "timed_out"
    if result.ok:
        return "succeeded"
    if result.error:
        return f"failed ({result.error})"
    if result.signal is not None:
        return f"failed (due to signal {result.signal})"
    return f"failed (exited with status {result.returncode})"


class ScriptTracker:
    """Runs one ``vrrp_script`` forever and emits a :class:`TrackerUpdate` when its state changes.

    With ``init_fail`` a down update is emitted at start; otherwise the first result is always reported.
    Cancel the task running :meth:`run` to stop it (a running script is killed).
    """

    def __init__(
        self,
        settings: ScriptTrackerSettings,
        emit: Emit,
        *,
        runner: ScriptRunner = run_script,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.counter = ScriptCounter(settings.rise, settings.fall, settings.init_fail)
        self.runs = 0
        self._emit = emit
        self._runner = runner
        self._clock = clock
        self._sleep = sleep
        self._last_status: int | None = None

    def _update(self, up: bool) -> None:
        self._emit(TrackerUpdate(TrackerKind.SCRIPT, self.settings.name, up=up, now=self._clock()))

    async def run(self) -> None:
        s = self.settings
        if s.init_fail:
            self._update(False)
        next_start = self._clock()
        while True:
            result = await self._runner(s.script, timeout=s.effective_timeout)
            self.runs += 1
            if result.returncode is not None and result.returncode != self._last_status:
                log.info("Script `%s` now returning %d", s.name, result.returncode)
                self._last_status = result.returncode
            reported = self.counter.record(result.ok)
            if reported is not None:
                log.info("VRRP_Script(%s) %s", s.name, _describe(result))
                self._update(reported)
            next_start += s.interval
            now = self._clock()
            if next_start < now:
                next_start = now  # the script overran its interval: start again at once, skip missed runs
            await self._sleep(next_start - now)


# ============================================================================================== track_file


@dataclass(frozen=True)
class FileTrackerSettings:
    """A ``track_file`` block.  ``init_value`` None means no ``init_file``; ``init_overwrite`` is its
    ``overwrite`` flag.  ``weight`` (default 1) and ``weight_reverse`` are carried for the router."""

    name: str
    path: Path
    weight: int = 1
    weight_reverse: bool = False
    init_value: int | None = None
    init_overwrite: bool = False

    def __post_init__(self) -> None:
        _check(str(self.path) != "", "track_file", self.name, "file must be set")
        _check_weight("track_file", self.name, self.weight, 2**31 - 1)
        if self.init_value is not None:
            _check(
                INT_MIN <= self.init_value <= INT_MAX,
                "track_file",
                self.name,
                f"init_file value {self.init_value} is not a C int",
            )


def parse_track_file_value(data: bytes) -> int | None:
    """The value keepalived reads from ``data``: C ``strtol(data, NULL, 0)``, 0 when there is no number, None
    (ignore the read) when the number does not fit a C int."""
    text = data.decode("ascii", "replace")
    i = 0
    n = len(text)
    while i < n and text[i] in " \t\n\r\f\v":
        i += 1
    sign = 1
    if i < n and text[i] in "+-":
        sign = -1 if text[i] == "-" else 1
        i += 1
    base = 10
    if text[i : i + 2].lower() == "0x" and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
        base = 16
        i += 2
    elif text[i : i + 1] == "0":
        base = 8
    digits = {8: "01234567", 10: "0123456789", 16: "0123456789abcdefABCDEF"}[base]
    start = i
    while i < n and text[i] in digits:
        i += 1
    if i == start:
        return 0
    value = sign * int(text[start:i], base)
    if not INT_MIN <= value <= INT_MAX:
        return None
    return value


def read_track_file(path: Path) -> int | None:
    """Read a track file as keepalived does (127 bytes): missing/unreadable/empty is 0; None: ignore."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        data = os.read(fd, 127)
    except OSError:
        return 0
    finally:
        os.close(fd)
    if not data:
        return 0
    value = parse_track_file_value(data)
    if value is None:
        log.info("Invalid number read from %s - ignoring", path)
    return value


def init_track_file(settings: FileTrackerSettings, *, reload: bool = False) -> None:
    """Apply ``init_file`` (keepalived's ``track_file_end_handler``): create the file holding the value when
    it does not exist; with ``overwrite`` also replace an existing regular file (but not on a reload)."""
    if settings.init_value is None:
        return
    path = settings.path
    try:
        st = path.stat()
    except FileNotFoundError:
        st = None
    if st is not None:
        if not settings.init_overwrite:
            return
        if not path.is_file():
            raise TrackerConfigError(f"track_file {settings.name}: cannot initialise {path}: not a regular file")
        if reload:
            return
    try:
        path.write_text(f"{settings.init_value}\n")
    except OSError as exc:
        raise TrackerConfigError(f"track_file {settings.name}: unable to initialise {path}: {exc.strerror}") from None


def resolve_track_file(settings: FileTrackerSettings) -> Path:
    """The absolute path to watch; its directory must exist (keepalived drops the tracker otherwise)."""
    path = Path(os.path.abspath(settings.path))
    if path.exists():
        return Path(os.path.realpath(path))
    directory = Path(os.path.realpath(path.parent))
    if not directory.is_dir():
        raise TrackerConfigError(f"track_file {settings.name}: directory {path.parent} does not exist")
    return directory / path.name


# inotify through libc: the events keepalived watches on the file's directory.
_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_DELETE = 0x00000200
_IN_ISDIR = 0x40000000
_IN_NONBLOCK = os.O_NONBLOCK
_IN_CLOEXEC = os.O_CLOEXEC
_EVENT = struct.Struct("iIII")


class _Inotify:
    """A minimal inotify watch on a directory (the file may not exist yet, or may be replaced by rename)."""

    def __init__(self, directory: Path) -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = _IN_CLOSE_WRITE | _IN_DELETE | _IN_MOVED_FROM | _IN_MOVED_TO
        wd = libc.inotify_add_watch(fd, os.fsencode(directory), mask)
        if wd < 0:
            err = ctypes.get_errno()
            os.close(fd)
            raise OSError(err, f"inotify_add_watch({directory}) failed")
        self.fd: int = fd

    def read(self) -> list[tuple[int, str]]:
        """Drain pending events as (mask, name)."""
        events: list[tuple[int, str]] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno == errno.EINTR:
                    continue
                raise
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                raw = data[offset + _EVENT.size : offset + _EVENT.size + length]
                events.append((mask, os.fsdecode(raw.rstrip(b"\0"))))
                offset += _EVENT.size + length

    def close(self) -> None:
        os.close(self.fd)


class FileTracker:
    """Watches one ``track_file`` and emits its value at start and whenever it changes.

    ``watch="inotify"`` (default) reacts to writes at once; ``watch="poll"`` re-reads every ``poll_interval``
    using the injected ``sleep`` (what the unit tests use, and the fallback where inotify is unavailable).
    The constructor applies ``init_file`` (``reload=True``: as on a SIGHUP, never overwriting) and raises
    :class:`TrackerConfigError` when the file's directory does not exist.
    """

    def __init__(
        self,
        settings: FileTrackerSettings,
        emit: Emit,
        *,
        watch: str = "inotify",
        poll_interval: float = 0.5,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        reload: bool = False,
    ) -> None:
        if watch not in ("inotify", "poll"):
            raise TrackerConfigError(f"track_file {settings.name}: watch must be 'inotify' or 'poll' (got {watch!r})")
        self.settings = settings
        self.path = resolve_track_file(settings)
        init_track_file(settings, reload=reload)
        self.value = 0
        self._emit = emit
        self._watch = watch
        self._poll_interval = poll_interval
        self._clock = clock
        self._sleep = sleep

    def _report(self, value: int) -> None:
        self.value = value
        self._emit(TrackerUpdate(TrackerKind.FILE, self.settings.name, value=value, now=self._clock()))

    async def _poll(self) -> NoReturn:
        while True:
            await self._sleep(self._poll_interval)
            self._reread()

    def _reread(self) -> None:
        value = read_track_file(self.path)
        if value is not None and value != self.value:
            self._report(value)

    async def run(self) -> None:
        initial = read_track_file(self.path)
        self._report(initial if initial is not None else 0)
        if self._watch == "poll":
            await self._poll()
        try:
            inotify = _Inotify(self.path.parent)
        except OSError as exc:
            log.warning("track_file %s: inotify unavailable (%s); polling instead", self.settings.name, exc)
            await self._poll()
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop.add_reader(inotify.fd, wake.set)
        try:
            self._reread()  # anything written between the first read and the watch
            while True:
                await wake.wait()
                wake.clear()
                for mask, name in inotify.read():
                    if mask & _IN_ISDIR or name != self.path.name:
                        continue
                    if mask & (_IN_DELETE | _IN_MOVED_FROM):
                        if self.value != 0:
                            self._report(0)  # keepalived: a vanished file counts as 0
                    else:
                        self._reread()
        finally:
            loop.remove_reader(inotify.fd)
            inotify.close()


# ============================================================================================== track_process


class ParamMatch(enum.Enum):
    """``param_match``: how configured parameters compare with a process's (keepalived's PARAM_MATCH_*)."""

    NONE = "none"  # parameters are not compared
    EXACT = "exact"  # all parameters, and no more
    PARTIAL = "partial"  # the configured parameters are the first n, more may follow
    INITIAL = "initial"  # as partial, and the last configured one may be a prefix of the process's


@dataclass(frozen=True)
class ProcessTrackerSettings:
    """A ``vrrp_track_process`` block (``delay`` sets both delays).  Parameters, or an explicit
    ``param_match``, imply ``full_command`` (argv[0] and parameters are compared instead of ``comm``), as in
    keepalived."""

    name: str
    process: str
    params: tuple[str, ...] = ()
    param_match: ParamMatch | None = None
    full_command: bool = False
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    fork_delay: float = 0.0
    terminate_delay: float = 0.0

    def __post_init__(self) -> None:
        block = "vrrp_track_process"
        _check(self.process != "", block, self.name, "process must be set")
        _check_weight(block, self.name, self.weight, 254)
        _check(self.quorum >= 0, block, self.name, f"quorum must be >= 0 (got {self.quorum})")
        if self.quorum_max is not None:
            _check(
                self.quorum_max >= self.quorum,
                block,
                self.name,
                f"quorum_max ({self.quorum_max}) must be >= quorum ({self.quorum})",
            )
        _check(self.fork_delay >= 0, block, self.name, f"fork_delay must be >= 0 (got {self.fork_delay})")
        _check(
            self.terminate_delay >= 0,
            block,
            self.name,
            f"terminate_delay must be >= 0 (got {self.terminate_delay})",
        )

    @property
    def match_mode(self) -> ParamMatch:
        if self.param_match is not None:
            return self.param_match
        return ParamMatch.EXACT if self.params else ParamMatch.NONE

    @property
    def uses_cmdline(self) -> bool:
        return self.full_command or self.match_mode is not ParamMatch.NONE

    def quorum_ok(self, count: int) -> bool:
        return self.quorum <= count and (self.quorum_max is None or count <= self.quorum_max)


@dataclass(frozen=True)
class ProcInfo:
    """What the process tracker needs to know about one running process."""

    pid: int
    ppid: int
    comm: str
    cmdline: tuple[str, ...] = ()


def _nul_join(words: Iterable[str]) -> bytes:
    return b"".join(os.fsencode(w) + b"\0" for w in words)


def process_matches(settings: ProcessTrackerSettings, proc: ProcInfo) -> bool:
    """keepalived's match (``check_process`` + ``check_params``), on a process snapshot."""
    if not settings.uses_cmdline:
        return proc.comm == settings.process
    if not proc.cmdline or proc.cmdline[0] != settings.process:
        return False
    mode = settings.match_mode
    if mode is ParamMatch.NONE:
        return True
    want = _nul_join(settings.params)
    have = _nul_join(proc.cmdline[1:])
    if mode is ParamMatch.EXACT:
        return have == want
    if len(have) < len(want):
        return False
    if not want:
        return True
    if mode is ParamMatch.PARTIAL:
        return have.startswith(want)
    return len(want) == 1 or have.startswith(want[:-1])  # INITIAL


def _read(path: str, size: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return os.read(fd, size)
    except OSError:
        return None
    finally:
        os.close(fd)


def read_proc(pid: int, need_cmdline: bool = True) -> ProcInfo | None:
    """One process's comm, ppid and (optionally) argv, or None if it is gone or a zombie.

    A single read of ``/proc/PID/stat`` gives comm, state and ppid, as keepalived reads it.  We deliberately
    do not use psutil's per-process objects here (about 0.3 ms per process, i.e. tens of ms per scan), and
    psutil's ``name()`` would substitute argv[0] for a 15-character comm where keepalived compares the raw
    comm.  ``cmdline`` is read only when some tracker needs it (it can fault in a swapped-out process).
    """
    stat_data = _read(f"/proc/{pid}/stat", 512)
    if not stat_data:
        return None
    open_paren = stat_data.find(b"(")
    close_paren = stat_data.rfind(b")")  # comm may itself contain ")" or spaces
    if open_paren < 0 or close_paren < open_paren:
        return None
    fields = stat_data[close_paren + 2 :].split()
    if len(fields) < 2 or fields[0] in (b"Z", b"X", b"x"):
        return None
    comm = os.fsdecode(stat_data[open_paren + 1 : close_paren])
    cmdline: tuple[str, ...] = ()
    if need_cmdline:
        raw = _read(f"/proc/{pid}/cmdline", 65536)
        if raw is None:
            return None
        words = raw.split(b"\0")
        if words and not words[-1]:
            words.pop()  # the usual trailing NUL (a process that rewrote its argv may lack it)
        cmdline = tuple(os.fsdecode(w) for w in words)
    return ProcInfo(pid, int(fields[1]), comm, cmdline)


def scan_processes(need_cmdline: bool = True) -> list[ProcInfo]:
    """Snapshot the running processes (zombies excluded, as keepalived excludes them)."""
    procs = []
    for pid in psutil.pids():
        info = read_proc(pid, need_cmdline)
        if info is not None:
            procs.append(info)
    return procs


@dataclass
class ProcessQuorum:
    """Quorum, fork_delay and terminate_delay for one tracked process, without I/O.

    Feed :meth:`observe` each snapshot of matching pids (pid -> ppid); it returns the newly reported state or
    None, and :attr:`deadline` says when a pending delayed change must be re-checked.
    """

    settings: ProcessTrackerSettings
    up: bool | None = None
    count: int = 0
    pending: tuple[bool, float] | None = None
    _pids: frozenset[int] = frozenset()

    @property
    def deadline(self) -> float | None:
        return self.pending[1] if self.pending else None

    def observe(self, now: float, matching: dict[int, int]) -> bool | None:
        s = self.settings
        forked = any(ppid in self._pids for pid, ppid in matching.items() if pid not in self._pids)
        self._pids = frozenset(matching)
        self.count = len(matching)
        ok = s.quorum_ok(self.count)
        if self.up is None:  # startup: report the initial state at once
            self.up = ok
            return ok
        if ok == self.up:
            self.pending = None  # a delayed change reverted in time: nothing to report
            return None
        if self.pending is not None and self.pending[0] == ok:
            if now < self.pending[1]:
                return None
            self.pending = None
            self.up = ok
            return ok
        if forked and s.fork_delay > 0:
            delay = s.fork_delay
        elif not ok and self.count < s.quorum:
            delay = s.terminate_delay
        else:
            delay = 0.0
        if delay > 0:
            self.pending = (ok, now + delay)
            return None
        self.up = ok
        return ok


Scan = Callable[[bool], Sequence[ProcInfo]]
ReadProc = Callable[[int, bool], ProcInfo | None]


# The kernel's process events connector (linux/cn_proc.h), which keepalived uses instead of polling.
_NETLINK_CONNECTOR = 11
_CN_IDX_PROC = 1
_CN_VAL_PROC = 1
_PROC_CN_MCAST_LISTEN = 1
_NLMSG_DONE = 3
_NLMSG_HDR = struct.Struct("=IHHII")
_CN_MSG = struct.Struct("=IIIIHH")
_PROC_EVENT = struct.Struct("=IIQ")
_TWO_IDS = struct.Struct("=II")
_FOUR_IDS = struct.Struct("=IIII")


class ProcEventKind(enum.Enum):
    """The proc connector events the process tracker acts on (``PROC_EVENT_*``)."""

    FORK = 0x00000001
    EXEC = 0x00000002
    COMM = 0x00000200
    EXIT = 0x80000000


@dataclass(frozen=True)
class ProcEvent:
    """One process (not thread) event: ``ppid`` is the parent for FORK, else 0."""

    kind: ProcEventKind
    pid: int
    ppid: int = 0


def parse_proc_events(data: bytes) -> list[ProcEvent]:
    """Decode a datagram from the proc connector; thread events and unknown kinds are skipped."""
    events: list[ProcEvent] = []
    offset = 0
    while offset + _NLMSG_HDR.size <= len(data):
        length, _type, _flags, _seq, _pid = _NLMSG_HDR.unpack_from(data, offset)
        if length < _NLMSG_HDR.size:
            break
        body = offset + _NLMSG_HDR.size
        offset += (length + 3) & ~3
        if body + _CN_MSG.size + _PROC_EVENT.size > len(data):
            continue
        idx, val, _s, _a, _len, _f = _CN_MSG.unpack_from(data, body)
        if (idx, val) != (_CN_IDX_PROC, _CN_VAL_PROC):
            continue
        what, _cpu, _ts = _PROC_EVENT.unpack_from(data, body + _CN_MSG.size)
        ev = body + _CN_MSG.size + _PROC_EVENT.size
        try:
            kind = ProcEventKind(what)
        except ValueError:
            continue
        if kind is ProcEventKind.FORK:
            if ev + _FOUR_IDS.size > len(data):
                continue
            _parent_pid, parent_tgid, child_pid, child_tgid = _FOUR_IDS.unpack_from(data, ev)
            if child_pid == child_tgid:  # a new process, not a new thread
                events.append(ProcEvent(kind, child_tgid, parent_tgid))
            continue
        if ev + _TWO_IDS.size > len(data):
            continue
        pid, tgid = _TWO_IDS.unpack_from(data, ev)
        if pid == tgid:
            events.append(ProcEvent(kind, pid))
    return events


class ProcConnector:
    """A subscription to the kernel's process events (needs CAP_NET_ADMIN and the initial network namespace:
    the connector exists only there, so inside a lab namespace :meth:`open` fails and we poll instead)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    def open(cls) -> ProcConnector:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC, _NETLINK_CONNECTOR)
        try:
            sock.bind((0, _CN_IDX_PROC))
            op = struct.pack("=I", _PROC_CN_MCAST_LISTEN)
            cn = _CN_MSG.pack(_CN_IDX_PROC, _CN_VAL_PROC, 0, 0, len(op), 0)
            hdr = _NLMSG_HDR.pack(_NLMSG_HDR.size + len(cn) + len(op), _NLMSG_DONE, 0, 0, 0)
            sock.send(hdr + cn + op)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def fileno(self) -> int:
        return self._sock.fileno()

    def read(self, max_datagrams: int = 256) -> list[ProcEvent] | None:
        """Read pending events; None when the kernel dropped some (ENOBUFS): the caller must rescan.

        At most ``max_datagrams`` per call, so a fork storm cannot starve the event loop; the socket stays
        readable and the loop calls again.
        """
        events: list[ProcEvent] = []
        for _ in range(max_datagrams):
            try:
                data = self._sock.recv(65536)
            except BlockingIOError:
                return events
            except OSError as exc:
                if exc.errno == errno.ENOBUFS:
                    return None
                raise
            events.extend(parse_proc_events(data))
        return events

    def close(self) -> None:
        self._sock.close()


class ProcessTracker:
    """Tracks all ``vrrp_track_process`` blocks at once and emits their state changes.

    Like keepalived it subscribes to the kernel's process events (``events=True``, the default) and updates
    its table on each fork/exec/comm/exit at once (measured: 0.3 ms median), rescanning every
    ``resync_interval`` as a safety net.  Where the connector is unavailable (a non-initial network namespace,
    as in the lab, or no CAP_NET_ADMIN) it logs why and polls instead: one ``/proc`` scan per
    ``poll_interval`` serves every block.  Either way a pending fork/terminate delay wakes it at its deadline.
    ``scan`` and ``read_proc`` are injectable for tests.
    """

    def __init__(
        self,
        settings: Sequence[ProcessTrackerSettings],
        emit: Emit,
        *,
        poll_interval: float = 0.2,
        scan: Scan = scan_processes,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        events: bool = True,
        resync_interval: float = 5.0,
        read_proc: ReadProc = read_proc,
    ) -> None:
        if poll_interval <= 0:
            raise TrackerConfigError(f"vrrp_track_process: poll_interval must be > 0 (got {poll_interval})")
        if resync_interval <= 0:
            raise TrackerConfigError(f"vrrp_track_process: resync_interval must be > 0 (got {resync_interval})")
        names = [s.name for s in settings]
        if len(set(names)) != len(names):
            raise TrackerConfigError(f"vrrp_track_process: duplicate names in {names}")
        self.quorums = {s.name: ProcessQuorum(s) for s in settings}
        self.matching: dict[str, dict[int, int]] = {s.name: {} for s in settings}
        self.using_events = False
        self._need_cmdline = any(s.uses_cmdline for s in settings)
        self._emit = emit
        self._poll_interval = poll_interval
        self._scan = scan
        self._clock = clock
        self._sleep = sleep
        self._events = events
        self._resync_interval = resync_interval
        self._read_proc = read_proc

    def poll(self) -> None:
        """Scan once and emit any reported changes (the polling loop's body; callable directly)."""
        procs = self._scan(self._need_cmdline)
        for name, quorum in self.quorums.items():
            self.matching[name] = {p.pid: p.ppid for p in procs if process_matches(quorum.settings, p)}
        self.evaluate()

    def apply(self, event: ProcEvent) -> None:
        """Update the matching tables from one process event (call :meth:`evaluate` after a batch).

        A fork's child is counted when its parent is (it runs the same program until it execs, and keepalived
        counts it so); an exec or comm change re-reads the process; an exit removes it.
        """
        if event.kind is ProcEventKind.EXIT:
            for table in self.matching.values():
                table.pop(event.pid, None)
            return
        if event.kind is ProcEventKind.FORK:
            for table in self.matching.values():
                if event.ppid in table:
                    table[event.pid] = event.ppid
            return
        info = self._read_proc(event.pid, self._need_cmdline)
        for name, quorum in self.quorums.items():
            table = self.matching[name]
            if info is not None and process_matches(quorum.settings, info):
                table[event.pid] = info.ppid
            else:
                table.pop(event.pid, None)

    def evaluate(self) -> None:
        """Feed the current tables to every quorum and emit what they report."""
        now = self._clock()
        for name, quorum in self.quorums.items():
            reported = quorum.observe(now, self.matching[name])
            if reported is not None:
                log.info(
                    "Process tracker %s %s quorum (%d running)",
                    name,
                    "gained" if reported else "lost",
                    quorum.count,
                )
                self._emit(TrackerUpdate(TrackerKind.PROCESS, name, up=reported, now=now))

    def _next_wait(self, longest: float) -> float:
        now = self._clock()
        wait = longest
        for q in self.quorums.values():
            if q.deadline is not None:
                wait = min(wait, max(0.0, q.deadline - now))
        return wait

    async def run(self) -> None:
        if not self.quorums:
            return
        connector: ProcConnector | None = None
        if self._events:
            try:
                connector = ProcConnector.open()
            except OSError as exc:
                log.info("proc connector unavailable (%s); polling /proc every %gs", exc, self._poll_interval)
        if connector is None:
            while True:
                self.poll()
                await self._sleep(self._next_wait(self._poll_interval))
        self.using_events = True
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()
        loop.add_reader(connector.fileno(), wake.set)
        try:
            self.poll()  # subscribed first, then scanned: no process can slip between the two
            last_scan = self._clock()
            while True:
                # a timer sets the event: asyncio.wait_for (3.11) could swallow our cancellation here
                timer = loop.call_later(self._next_wait(self._resync_interval), wake.set)
                try:
                    await wake.wait()
                finally:
                    timer.cancel()
                wake.clear()
                events = connector.read()
                if events is None or self._clock() - last_scan >= self._resync_interval:
                    self.poll()  # events were lost, or time for the safety rescan
                    last_scan = self._clock()
                    continue
                for event in events:
                    self.apply(event)
                self.evaluate()
        finally:
            loop.remove_reader(connector.fileno())
            connector.close()


# ============================================================================================== all together


def start_trackers(
    emit: Emit,
    *,
    scripts: Sequence[ScriptTrackerSettings] = (),
    files: Sequence[FileTrackerSettings] = (),
    processes: Sequence[ProcessTrackerSettings] = (),
    process_poll_interval: float = 0.2,
    reload: bool = False,
) -> list[asyncio.Task[None]]:
    """Start one task per ``vrrp_script`` and ``track_file`` and one for all ``vrrp_track_process`` blocks.

    Settings errors (a missing track_file directory, an unusable ``init_file``) raise before any task starts.
    Cancel the returned tasks to stop everything (running scripts are killed).
    """
    runners: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
    for s in scripts:
        runners.append((f"vrrp_script {s.name}", ScriptTracker(s, emit).run))
    for f in files:
        runners.append((f"track_file {f.name}", FileTracker(f, emit, reload=reload).run))
    if processes:
        tracker = ProcessTracker(processes, emit, poll_interval=process_poll_interval)
        runners.append(("vrrp_track_process", tracker.run))
    return [asyncio.create_task(run(), name=name) for name, run in runners]
