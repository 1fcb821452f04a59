"""TCP_CHECK at scale: many non-blocking connects watched by one epoll of our own, which the event loop sees as
a single reader.

Why not ``loop.sock_connect`` per probe (``checkers.io.tcp``): at thousands of checks a second the per-probe
asyncio machinery (a task, a future, a timeout context, a selector registration and its removal, several
callbacks) cost more CPU than the kernel's loopback handshake itself. Here a probe is a socket, ``connect_ex``,
one ``epoll.register`` and, when the socket turns writable, ``close`` (which also leaves the epoll); ``SO_ERROR``
is read only when epoll reports an error or hang-up: the system calls a C checker makes, and no Python object
beyond the socket and one tuple (a minimal Python loop of the same calls costs the same CPU per probe).
Completions are read in batches, one ``epoll.poll`` per loop iteration.

Hard timeouts: each connect has a deadline in a heap; one loop timer is armed at the earliest deadline of a
connect still pending (completed ones leave the heap lazily, when they reach its top), so the timer fires about
once per connect_timeout, not once per probe. The result and its wording are ``checkers.io.tcp``'s.

A late loop never turns a completed connect into a timeout: the timer first reads every completion the kernel
holds (all of them, not one ``epoll_wait`` batch), and only connects still pending after that fail.  After a stall
(a long reload step, a saturated CPU) thousands of completions and the timer are due together; keepalived's
scheduler also serves ready descriptors before timeouts.
"""

from __future__ import annotations

import asyncio
import errno
import heapq
import select
import socket
from collections.abc import Callable

from checkers.core.spec import ProbeResult, Target
from checkers.io.sockets import open_socket, sockaddr
from checkers.io.tcp import failed

Done = Callable[[str, ProbeResult], None]

OK = ProbeResult(True)
TIMEOUT = ProbeResult(False, "Timeout connecting")
_TROUBLE = select.EPOLLERR | select.EPOLLHUP
#: completions read per ``epoll_wait`` (Python's default is 1,023; a batch this size repeats until one is short)
BATCH = 4096


class TcpConnector:
    """Runs TCP connects and calls ``done(key, result)`` once for each, from the event loop (never from inside
    :meth:`connect`). :meth:`open` on the running loop first; :meth:`close` drops every pending connect."""

    def __init__(self, done: Done) -> None:
        self._done = done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ep: select.epoll | None = None
        self._pending: dict[int, tuple[socket.socket, str, int]] = {}  # fd -> (socket, key, sequence number)
        self._deadlines: list[tuple[float, int, int]] = []  # (deadline, sequence number, fd)
        self._seq = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._ep = select.epoll()
        self._loop.add_reader(self._ep.fileno(), self._ready)

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for sock, _key, _seq in self._pending.values():
            sock.close()
        self._pending.clear()
        self._deadlines.clear()
        if self._ep is not None:
            assert self._loop is not None
            self._loop.remove_reader(self._ep.fileno())
            self._ep.close()
            self._ep = None

    def connect(self, key: str, target: Target, timeout: float) -> None:
        """Start a connect to ``target``; its result arrives through ``done`` within ``timeout`` seconds."""
        loop, ep = self._loop, self._ep
        assert loop is not None and ep is not None, "open() first"
        try:
            sock = open_socket(target, socket.SOCK_STREAM)
        except OSError as exc:
            loop.call_soon(self._done, key, failed(exc.errno or errno.EIO))
            return
        err = sock.connect_ex(sockaddr(target))
        if err not in (errno.EINPROGRESS, 0):
            sock.close()
            loop.call_soon(self._done, key, failed(err))
            return
        fd = sock.fileno()
        self._seq += 1
        self._pending[fd] = (sock, key, self._seq)
        ep.register(fd, select.EPOLLOUT)  # an immediate success is reported writable at once
        deadline = loop.time() + timeout
        heapq.heappush(self._deadlines, (deadline, self._seq, fd))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)

    def _ready(self) -> None:
        """Report every connect the kernel has finished (all of them: batches until one comes back short)."""
        ep = self._ep
        assert ep is not None
        pending, done = self._pending, self._done
        while True:
            events = ep.poll(0, BATCH)
            for fd, ev in events:
                entry = pending.pop(fd, None)
                if entry is None:
                    continue
                sock, key, _seq = entry
                # writable without an error or hang-up: connected (no SO_ERROR system call, the common case)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if ev & _TROUBLE else 0
                sock.close()  # also leaves the epoll
                done(key, OK if err == 0 else failed(err))
            if len(events) < BATCH or self._ep is not ep:  # drained (or closed by a callback)
                return

    def _arm(self, when: float) -> None:
        assert self._loop is not None
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(when, self._expire), when

    def _expire(self) -> None:
        """Fail every connect past its deadline; arm the timer at the next one still pending."""
        assert self._loop is not None
        self._timer = None
        self._ready()  # completions first: a connect the kernel finished while the loop was late is a success
        if self._ep is None:
            return
        now = self._loop.time()
        heap, pending = self._deadlines, self._pending
        while heap:
            deadline, seq, fd = heap[0]
            entry = pending.get(fd)
            if entry is not None and entry[2] == seq and deadline > now:
                self._arm(deadline)
                return
            heapq.heappop(heap)
            if entry is not None and entry[2] == seq:
                del pending[fd]
                entry[0].close()
                self._done(entry[1], TIMEOUT)  # may start a connect: the heap is consistent again here
