"""Contract between tracker loops and the sans-IO router: real trackers delivered to a real VirtualRouter."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from vrrp.core.config import RouterConfig
from vrrp.core.router import VirtualRouter
from vrrp.core.tracking import Tracker
from vrrp.io.scripts import Script
from vrrp.io.trackers import (
    FileTracker,
    FileTrackerSettings,
    ScriptTracker,
    ScriptTrackerSettings,
    TrackerKind,
    TrackerUpdate,
    deliver,
)

# Every wait in these tests is bounded; this only turns an unexpected hang into a traceback, fast.
pytestmark = pytest.mark.timeout(60)


def _router(*trackers: Tracker) -> VirtualRouter:
    config = RouterConfig(
        vrid=51,
        primary_address=ipaddress.ip_address("10.0.0.11"),
        virtual_ipaddress=(ipaddress.ip_address("10.0.0.100"),),
        priority=100,
        trackers=trackers,
    )
    return VirtualRouter(config)


def test_failing_script_and_file_value_move_the_effective_priority(tmp_path: Path) -> None:
    router = _router(Tracker("chk", weight=-20), Tracker("tf", weight=3, kind="value"))
    router.start(0)
    flag = tmp_path / "ok"
    weight_file = tmp_path / "weight"
    weight_file.write_text("0\n")

    async def main() -> list[int]:
        seen: list[int] = []
        changed = asyncio.Event()

        def emit(update: TrackerUpdate) -> None:
            deliver(update, router, now=1_000_000)
            seen.append(router.effective_priority)
            changed.set()

        script = ScriptTrackerSettings("chk", Script(("/bin/sh", "-c", f"test -e {flag}")), interval=0.05)
        tasks = [
            asyncio.create_task(ScriptTracker(script, emit).run()),
            asyncio.create_task(FileTracker(FileTrackerSettings("tf", weight_file), emit).run()),
        ]
        try:
            while len(seen) < 2:  # initial file value 0, first script result: failed
                changed.clear()
                await asyncio.wait_for(changed.wait(), 5)
            assert router.effective_priority == 80
            weight_file.write_text("5\n")
            changed.clear()
            await asyncio.wait_for(changed.wait(), 5)
            assert router.effective_priority == 95
            flag.touch()
            changed.clear()
            await asyncio.wait_for(changed.wait(), 5)
            assert router.effective_priority == 115
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return seen

    assert asyncio.run(main())[-1] == 115


def test_deliver_rejects_an_empty_update() -> None:
    with pytest.raises(ValueError, match="neither a state nor a value"):
        deliver(TrackerUpdate(TrackerKind.SCRIPT, "x"), _router(Tracker("x")), now=0)
