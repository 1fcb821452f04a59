"""Kernel tier: every test here is checked for User-Mode Linux instances it left running (a defect)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import psutil
import pytest


def _leftover_instances() -> list[str]:
    """Live processes started by run_in_kernel in this test process (their command line carries our pid)."""
    marker = f"netns-lab-uml-{os.getpid()}-"
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "status"]):
        if p.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = p.info["cmdline"] or []
        if any(marker in part for part in cmdline):
            found.append(f"{p.info['pid']}: {' '.join(cmdline)[:120]}")
    return found


@pytest.fixture(autouse=True)
def no_kernel_instance_left() -> Iterator[None]:
    yield
    left = _leftover_instances()
    assert not left, "kernel instances left running:\n" + "\n".join(left)
