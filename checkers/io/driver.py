"""The asyncio driver of :class:`checkers.core.scheduler.Scheduler`: one loop timer for every check, results fed
back with the loop's monotonic time.

How probes run: a TCP_CHECK goes to :class:`checkers.io.connector.TcpConnector` (a socket and an epoll
registration, no task: at ten thousand checks a second the per-probe task, future and timeout context cost more
than the kernel's handshake); every other probe is its own task (so thousands run at once and none waits for
another). A probe starts only when a slot is free (``max_in_flight``); the others wait in a queue, without a task.

Timers are callbacks (``loop.call_at``), not a task sleeping on an event: the timer is armed at the scheduler's
next deadline and moved only when a result brings an earlier one, and each firing starts every check due by then.

Actions other than ``RunProbe`` (verdicts, weights, log lines) go to ``sink``, which is the virtual-server
manager in the daemon and a list in tests.
"""

from __future__ import annotations

import asyncio
import resource
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import assert_never

from checkers.core.machine import Action, LogLine, RunProbe, Verdict, WeightChanged
from checkers.core.scheduler import Scheduler
from checkers.core.spec import CheckSpec, ProbeResult, TcpProbe
from checkers.io.connector import TcpConnector
from checkers.io.probes import run_probe

Sink = Callable[[Verdict | WeightChanged | LogLine], None]
Prober = Callable[[CheckSpec], Awaitable[ProbeResult]]

#: how many recent lateness samples the driver keeps (a bounded window: a daemon runs for months; ~1 MiB when full;
#: the benchmark swaps in a larger window)
LATENESS_SAMPLES = 1 << 15


def default_max_in_flight() -> int:
    """Probes in flight at once: what the open-file limit allows, keeping room for the rest of the process
    (a probe that hits EMFILE would fail a healthy server)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft - 256) if soft != resource.RLIM_INFINITY else 1 << 16


class CheckerDriver:
    """Runs a scheduler's checks until :meth:`stop`. ``lateness`` keeps how late each of the recent probes
    started (seconds from when it was due to when its probe began), the figure the benchmark reports. At most
    ``max_in_flight`` probes run at once; the others wait their turn (and show as lateness). TCP_CHECKs use the
    connector unless ``fast_tcp`` is False (then ``prober`` sees every probe)."""

    def __init__(self, sink: Sink, scheduler: Scheduler | None = None, prober: Prober = run_probe,
                 max_in_flight: int | None = None, fast_tcp: bool = True) -> None:
        self.scheduler = scheduler or Scheduler()
        self.sink = sink
        self.prober = prober
        self.lateness: deque[float] = deque(maxlen=LATENESS_SAMPLES)
        self._limit = max_in_flight or default_max_in_flight()
        self._busy = 0  # probes started and not yet reported
        self._waiting: deque[RunProbe] = deque()
        self._inflight: dict[str, object] = {}  # key -> the check machine a running probe was started for
        self._tasks: set[asyncio.Task[None]] = set()
        self._tcp = TcpConnector(self._done) if fast_tcp else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._stop: asyncio.Event | None = None
        self._stopped = False

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(self, specs: Iterable[CheckSpec]) -> None:
        self._handle(self.scheduler.add_all(specs, self.now()))
        self._arm()

    def remove(self, key: str) -> None:
        self.scheduler.remove(key)

    def set_enabled(self, key: str, enabled: bool) -> None:
        self._handle(self.scheduler.set_enabled(key, enabled))
        self._arm()

    def stop(self) -> None:
        self._stopped = True
        if self._stop is not None:
            self._stop.set()

    @property
    def in_flight(self) -> int:
        return self._busy

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        if self._tcp is not None:
            self._tcp.open()
        try:
            if not self._stopped:
                self._arm()
                await self._stop.wait()
        finally:
            self._stopped = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._waiting.clear()
            if self._tcp is not None:
                self._tcp.close()
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            self._busy = 0  # every probe was dropped or cancelled
            self._inflight.clear()

    # ------------------------------------------------------------------ the timer

    def _arm(self) -> None:
        """Keep the one timer at the scheduler's next deadline (moved only when that deadline is earlier)."""
        if self._loop is None or self._stopped:
            return  # run() arms it
        deadline = self.scheduler.next_deadline()
        if deadline is None:
            return
        if self._timer is not None:
            if self._timer_at <= deadline:
                return
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(deadline, self._fire), deadline

    def _fire(self) -> None:
        self._timer = None
        assert self._loop is not None
        now = self._loop.time()
        self._handle(self.scheduler.due(now), now)
        self._arm()

    # ------------------------------------------------------------------ probes

    def _handle(self, actions: list[Action], now: float | None = None) -> None:
        for action in actions:
            match action:
                case RunProbe():
                    if self._busy < self._limit:
                        self._start(action, self.now() if now is None else now)
                    else:
                        self._waiting.append(action)
                case Verdict() | WeightChanged() | LogLine():
                    self.sink(action)
                case _:
                    assert_never(action)

    def _start(self, action: RunProbe, now: float) -> None:
        machine = self.scheduler.checks.get(action.key)
        if machine is None or self._stopped:
            return
        self._busy += 1
        self._inflight[action.key] = machine
        self.lateness.append(now - action.due)
        spec = machine.spec
        if self._tcp is not None and isinstance(spec.probe, TcpProbe):
            self._tcp.connect(action.key, spec.target, spec.timing.connect_timeout)  # TCP_CHECK's probe_timeout
            return
        task = asyncio.create_task(self._probe(spec))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _probe(self, spec: CheckSpec) -> None:
        try:
            result = await self.prober(spec)
        except Exception as exc:  # a probe bug must not stop the check: it counts as a failure
            result = ProbeResult(False, f"probe error {type(exc).__name__}: {exc} for")
        self._done(spec.key, result)

    def _done(self, key: str, result: ProbeResult) -> None:
        """A probe ended: feed the scheduler, move the timer if this check is now the first due, start a
        waiting probe in the freed slot."""
        self._busy -= 1
        started = self._inflight.pop(key, None)
        if self._stopped:
            return
        assert self._loop is not None
        now = self._loop.time()
        machine = self.scheduler.checks.get(key)
        if machine is not None and machine is started:  # else removed or replaced by a reload meanwhile
            self._handle(self.scheduler.on_result(key, now, result))
            if machine.deadline is not None and (self._timer is None or machine.deadline < self._timer_at):
                self._arm()
        while self._waiting and self._busy < self._limit:
            self._start(self._waiting.popleft(), now)
