"""The asyncio driver of :class:`checkers.core.scheduler.Scheduler`: one timer for every check, each probe its
own task (so thousands run at once and none waits for another), results fed back with the loop's monotonic time.

Actions other than ``RunProbe`` (verdicts, weights, log lines) go to ``sink``, which is the virtual-server
manager in the daemon and a list in tests.
"""

from __future__ import annotations

import asyncio
import resource
from collections.abc import Awaitable, Callable, Iterable
from typing import assert_never

from checkers.core.machine import Action, LogLine, RunProbe, Verdict, WeightChanged
from checkers.core.scheduler import Scheduler
from checkers.core.spec import CheckSpec, ProbeResult
from checkers.io.probes import run_probe

Sink = Callable[[Verdict | WeightChanged | LogLine], None]
Prober = Callable[[CheckSpec], Awaitable[ProbeResult]]


def default_max_in_flight() -> int:
    """Probes in flight at once: what the open-file limit allows, keeping room for the rest of the process
    (a probe that hits EMFILE would fail a healthy server)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return max(16, soft - 256) if soft != resource.RLIM_INFINITY else 1 << 16


class CheckerDriver:
    """Runs a scheduler's checks until :meth:`stop`. ``lateness`` keeps how late each probe started (seconds),
    the figure the benchmark reports. At most ``max_in_flight`` probes run at once; the others wait their turn
    (and show as lateness)."""

    def __init__(self, sink: Sink, scheduler: Scheduler | None = None, prober: Prober = run_probe,
                 max_in_flight: int | None = None) -> None:
        self.scheduler = scheduler or Scheduler()
        self.sink = sink
        self.prober = prober
        self._slots = asyncio.Semaphore(max_in_flight or default_max_in_flight())
        self.lateness: list[float] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._sleep_until: float | None = None  # the deadline the run loop sleeps toward (None: no timer)
        self._stopped = False

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def add(self, specs: Iterable[CheckSpec]) -> None:
        self._handle(self.scheduler.add_all(specs, self.now()))
        self._wake.set()

    def remove(self, key: str) -> None:
        self.scheduler.remove(key)

    def set_enabled(self, key: str, enabled: bool) -> None:
        self._handle(self.scheduler.set_enabled(key, enabled))

    def stop(self) -> None:
        self._stopped = True
        self._wake.set()

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def run(self) -> None:
        try:
            while not self._stopped:
                deadline = self.scheduler.next_deadline()
                delay = None if deadline is None else max(0.0, deadline - self.now())
                self._sleep_until = deadline
                self._wake.clear()
                if delay is None or delay > 0:
                    try:
                        async with asyncio.timeout(delay):
                            await self._wake.wait()
                    except TimeoutError:
                        pass
                    continue
                now = self.now()
                self._handle(self.scheduler.due(now), now, deadline)
        finally:
            for task in list(self._tasks):
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _handle(self, actions: list[Action], now: float | None = None, deadline: float | None = None) -> None:
        for action in actions:
            match action:
                case RunProbe():
                    if now is not None and deadline is not None:
                        self.lateness.append(now - deadline)
                    task = asyncio.create_task(self._probe(action.key))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                case Verdict() | WeightChanged() | LogLine():
                    self.sink(action)
                case _:
                    assert_never(action)

    async def _probe(self, key: str) -> None:
        machine = self.scheduler.checks.get(key)
        if machine is None:
            return
        try:
            async with self._slots:
                result = await self.prober(machine.spec)
        except Exception as exc:  # a probe bug must not stop the check: it counts as a failure
            result = ProbeResult(False, f"probe error {type(exc).__name__}: {exc} for")
        if self.scheduler.checks.get(key) is not machine:
            return  # removed (or replaced by a reload) while the probe ran: the result is nobody's
        self._handle(self.scheduler.on_result(key, self.now(), result))
        new = machine.deadline
        if new is not None and (self._sleep_until is None or new < self._sleep_until):
            self._wake.set()  # only when this check now comes due before the timer the loop sleeps on
