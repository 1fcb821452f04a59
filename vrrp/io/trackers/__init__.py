"""Tracker I/O loops: ``vrrp_script``, ``track_file`` and ``vrrp_track_process`` emit :class:`TrackerUpdate`.

One kind a module: ``script``, ``file``, ``process``; ``base`` holds what they share.

The router (sans-IO) owns what an update *means* (weights, ``reverse``, FAULT for weight 0, clamping); these
modules only observe the world and reports, with keepalived's semantics for *when* a state changes:

* ``vrrp_script`` -- keepalived's rise/fall counter (``vrrp_script_child_thread``): ``result`` runs from 0 to
  ``rise + fall - 1`` and the script is up when ``result >= rise``.  A script starts "initialising" with
  ``result = rise - 1`` (one success is enough, and the first failure is reported), or failed with
  ``init_fail``.  It runs every ``interval`` seconds, measured from the previous start; a timeout (default:
  the interval) kills its process group and counts as a failure.
* ``track_file`` -- the file holds an integer (``strtol`` base 0: ``12``, ``-3``, ``0x1f``, ``017``; leading
  white space allowed, trailing text ignored).  A missing or empty file, or text without a number, reads as
  0; a number outside the C ``int`` range is logged and ignored.  keepalived watches the directory with
  inotify (close-after-write, delete, move); so do we, and a deletion reads as 0.  ``init_file`` creates the
  file (or overwrites it) at start.
* ``vrrp_track_process`` -- counts running (non-zombie) processes whose ``/proc/PID/comm`` equals the name,
  or, with ``full_command``/parameters, whose argv[0] equals it and whose parameters match (exact,
  ``partial``: the first n match, ``initial``: the last may be longer).  Up when
  ``quorum <= count <= quorum_max``.  Gaining or losing quorum through a fork waits ``fork_delay``; losing it
  through process exit waits ``terminate_delay``; a change that reverts within the delay is never reported.
  Like keepalived we follow the kernel's process events (proc connector: sub-millisecond); the connector
  exists only in the initial network namespace, so inside a lab namespace we poll ``/proc`` every
  ``poll_interval`` instead (psutil lists the pids; one read of ``/proc/PID/stat`` per process).

Every loop takes ``clock`` and ``sleep`` so tests drive it with a virtual clock and no real waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from vrrp.io.trackers.base import (
    INT_MAX,
    INT_MIN,
    Clock,
    Emit,
    Sleep,
    TrackerConfigError,
    TrackerKind,
    TrackerSink,
    TrackerUpdate,
    deliver,
)
from vrrp.io.trackers.file import (
    FileTracker,
    FileTrackerSettings,
    init_track_file,
    parse_track_file_value,
    read_track_file,
    resolve_track_file,
)
from vrrp.io.trackers.process import (
    ParamMatch,
    ProcConnector,
    ProcessQuorum,
    ProcessTracker,
    ProcessTrackerSettings,
    ProcEvent,
    ProcEventKind,
    ProcInfo,
    parse_proc_events,
    process_matches,
    read_proc,
    scan_processes,
)
from vrrp.io.trackers.script import ScriptCounter, ScriptRunner, ScriptTracker, ScriptTrackerSettings

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "Clock",
    "Emit",
    "FileTracker",
    "FileTrackerSettings",
    "ParamMatch",
    "ProcConnector",
    "ProcEvent",
    "ProcEventKind",
    "ProcInfo",
    "ProcessQuorum",
    "ProcessTracker",
    "ProcessTrackerSettings",
    "ScriptCounter",
    "ScriptRunner",
    "ScriptTracker",
    "ScriptTrackerSettings",
    "Sleep",
    "TrackerConfigError",
    "TrackerKind",
    "TrackerSink",
    "TrackerUpdate",
    "deliver",
    "init_track_file",
    "parse_proc_events",
    "parse_track_file_value",
    "process_matches",
    "read_proc",
    "read_track_file",
    "resolve_track_file",
    "scan_processes",
    "start_trackers",
]


def start_trackers(
    emit: Emit,
    *,
    scripts: Sequence[ScriptTrackerSettings] = (),
    files: Sequence[FileTrackerSettings] = (),
    processes: Sequence[ProcessTrackerSettings] = (),
    process_poll_interval: float = 0.2,
    reload: bool = False,
) -> list[asyncio.Task[None]]:
    """Start one task per ``vrrp_script`` and ``track_file`` and one for all ``vrrp_track_process`` blocks.

    Settings errors (a missing track_file directory, an unusable ``init_file``) raise before any task starts.
    Cancel the returned tasks to stop everything (running scripts are killed).
    """
    runners: list[tuple[str, Callable[[], Coroutine[Any, Any, None]]]] = []
    for s in scripts:
        runners.append((f"vrrp_script {s.name}", ScriptTracker(s, emit).run))
    for f in files:
        runners.append((f"track_file {f.name}", FileTracker(f, emit, reload=reload).run))
    if processes:
        tracker = ProcessTracker(processes, emit, poll_interval=process_poll_interval)
        runners.append(("vrrp_track_process", tracker.run))
    return [asyncio.create_task(run(), name=name) for name, run in runners]
