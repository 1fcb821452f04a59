"""The ``vrrp_script`` tracker.

``vrrp_script`` -- keepalived's rise/fall counter (``vrrp_script_child_thread``): ``result`` runs from 0 to
``rise + fall - 1`` and the script is up when ``result >= rise``.  A script starts "initialising" with
``result = rise - 1`` (one success is enough, and the first failure is reported), or failed with
``init_fail``.  It runs every ``interval`` seconds, measured from the previous start; a timeout (default:
the interval) kills its process group and counts as a failure.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Protocol

from vrrp.io.scripts import Script, ScriptResult, run_script
from vrrp.io.trackers.base import (
    Clock,
    Emit,
    Sleep,
    TrackerKind,
    TrackerUpdate,
    require,
    require_weight,
)

log = logging.getLogger(__name__)


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
        require(self.interval > 0, block, self.name, f"interval must be > 0 (got {self.interval})")
        require(
            self.timeout is None or self.timeout > 0,
            block,
            self.name,
            f"timeout must be > 0 (got {self.timeout})",
        )
        require(self.rise >= 1, block, self.name, f"rise must be >= 1 (got {self.rise})")
        require(self.fall >= 1, block, self.name, f"fall must be >= 1 (got {self.fall})")
        require_weight(block, self.name, self.weight, 253)

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
