"""The ``vrrp_track_process`` tracker.

``vrrp_track_process`` -- counts running (non-zombie) processes whose ``/proc/PID/comm`` equals the name,
or, with ``full_command``/parameters, whose argv[0] equals it and whose parameters match (exact,
``partial``: the first n match, ``initial``: the last may be longer).  Up when
``quorum <= count <= quorum_max``.  Gaining or losing quorum through a fork waits ``fork_delay``; losing it
through process exit waits ``terminate_delay``; a change that reverts within the delay is never reported.
Like keepalived we follow the kernel's process events (proc connector: sub-millisecond); the connector
exists only in the initial network namespace, so inside a lab namespace we poll ``/proc`` every
``poll_interval`` instead (psutil lists the pids; one read of ``/proc/PID/stat`` per process).
"""

from __future__ import annotations

import asyncio
import enum
import errno
import logging
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from vrrp.io.trackers.base import (
    Clock,
    Emit,
    Sleep,
    TrackerConfigError,
    TrackerKind,
    TrackerUpdate,
    require,
    require_weight,
)

log = logging.getLogger(__name__)


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
        require(self.process != "", block, self.name, "process must be set")
        require_weight(block, self.name, self.weight, 254)
        require(self.quorum >= 0, block, self.name, f"quorum must be >= 0 (got {self.quorum})")
        if self.quorum_max is not None:
            require(
                self.quorum_max >= self.quorum,
                block,
                self.name,
                f"quorum_max ({self.quorum_max}) must be >= quorum ({self.quorum})",
            )
        require(self.fork_delay >= 0, block, self.name, f"fork_delay must be >= 0 (got {self.fork_delay})")
        require(
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
    # imported here: only a configured vrrp_track_process scans, and psutil (with datetime) is ~1 MiB that every
    # VRRP process would otherwise hold for its whole life
    import psutil  # type: ignore[import-untyped,unused-ignore]  # no stubs unless types-psutil is installed

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
