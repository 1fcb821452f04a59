"""Many checks, one timer: the scheduler owns every :class:`CheckMachine` and answers "what is due now" and
"when is the next deadline" in O(log n) (a heap with lazy invalidation), so ten thousand checks cost one timer.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable

from checkers.core.machine import Action, CheckMachine
from checkers.core.spec import CheckSpec, ProbeResult


class Scheduler:
    """Owns the checks; the I/O driver calls :meth:`due` at :meth:`next_deadline` and :meth:`on_result` when a
    probe ends. ``rng`` draws the warmup shares (seed it for reproducible runs)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self.checks: dict[str, CheckMachine] = {}
        self._heap: list[tuple[float, int, str]] = []
        self._rng = rng or random.Random()

    def add(self, spec: CheckSpec, now: float, warmup_fraction: float | None = None) -> list[Action]:
        if spec.key in self.checks:
            raise ValueError(f"check {spec.key!r} is already scheduled")
        machine = CheckMachine(spec)
        self.checks[spec.key] = machine
        frac = self._rng.random() if warmup_fraction is None else warmup_fraction
        actions = machine.start(now, frac)
        self._push(machine)
        return actions

    def add_all(self, specs: Iterable[CheckSpec], now: float) -> list[Action]:
        actions: list[Action] = []
        for spec in specs:
            actions.extend(self.add(spec, now))
        return actions

    def remove(self, key: str) -> None:
        """Forget a check (its heap entry dies lazily; a late result for it is ignored)."""
        self.checks.pop(key, None)

    def set_enabled(self, key: str, enabled: bool) -> list[Action]:
        return self.checks[key].set_enabled(enabled)

    def _push(self, machine: CheckMachine) -> None:
        if machine.deadline is not None:
            heapq.heappush(self._heap, (machine.deadline, id(machine), machine.spec.key))

    def _live(self, entry: tuple[float, int, str]) -> bool:
        deadline, ident, key = entry
        machine = self.checks.get(key)
        return machine is not None and id(machine) == ident and machine.deadline == deadline

    def next_deadline(self) -> float | None:
        while self._heap and not self._live(self._heap[0]):
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def due(self, now: float) -> list[Action]:
        """Fire every check whose deadline is at or before ``now``, earliest first."""
        actions: list[Action] = []
        while self._heap and self._heap[0][0] <= now:
            entry = heapq.heappop(self._heap)
            if not self._live(entry):
                continue
            machine = self.checks[entry[2]]
            actions.extend(machine.on_timer(now))
            self._push(machine)
        return actions

    def on_result(self, key: str, now: float, result: ProbeResult) -> list[Action]:
        machine = self.checks.get(key)
        if machine is None or not machine.in_flight:
            return []
        actions = machine.on_result(now, result)
        self._push(machine)
        return actions
