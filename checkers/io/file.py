"""FILE_CHECK (keepalived's check_file.c over a track_file): the file holds an integer; times ``weight``
(negated with ``reverse``) it is added to the real server's weight. With weight 0 any non-zero value fails the
check, as does a product at or below IPVS_WEIGHT_FAULT (INT32_MIN). A missing or unreadable file reads as 0, as
keepalived's track_file does. keepalived watches the file with inotify; we read it at each delay_loop (the same
result, later by up to one delay_loop)."""

from __future__ import annotations

import asyncio

from checkers.core.spec import FileProbe, ProbeResult

IPVS_WEIGHT_FAULT = -(2**31)


def read_value(path: str) -> int:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read(64).split()
    except OSError:
        return 0
    try:
        return int(text[0]) if text else 0
    except ValueError:
        return 0


def verdict(probe: FileProbe, value: int) -> ProbeResult:
    if probe.weight == 0:
        return ProbeResult(value == 0, "" if value == 0 else f"FILE_CHECK {probe.path} holds {value} for")
    status = value * probe.weight * (-1 if probe.reverse else 1)
    if status <= IPVS_WEIGHT_FAULT:
        return ProbeResult(False, f"FILE_CHECK {probe.path} gives {status} for")
    return ProbeResult(True, weight_offset=status)


async def probe_file(probe: FileProbe) -> ProbeResult:
    value = await asyncio.to_thread(read_value, probe.path)
    return verdict(probe, value)
