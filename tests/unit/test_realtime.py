"""The VRRP process's timer slack (vrrp.io.realtime): 1 ns unless told otherwise, so the precise stage of a
Backup's takeover wait does not overshoot by the kernel's default 50 µs; a thread's own setting, restored here."""

from __future__ import annotations

import threading

from vrrp.io.realtime import ProcessSettings, apply_process_settings, timer_slack_ns


def _in_a_thread(settings: ProcessSettings) -> tuple[list[str], int]:
    """Apply ``settings`` in a fresh thread (timer slack is per thread: the test process keeps its own)."""
    out: list[tuple[list[str], int]] = []
    t = threading.Thread(target=lambda: out.append((apply_process_settings(settings), timer_slack_ns())))
    t.start()
    t.join()
    return out[0]


def test_the_vrrp_process_asks_for_the_least_timer_slack() -> None:
    default = timer_slack_ns()
    assert default > 1  # the kernel's 50 µs (or whatever the test's environment set)
    assert _in_a_thread(ProcessSettings()) == ([], 1)
    assert _in_a_thread(ProcessSettings(timer_slack_ns=None)) == ([], default)
    assert timer_slack_ns() == default
