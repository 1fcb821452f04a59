"""keepalived's process tuning for the VRRP process: ``vrrp_rt_priority``, ``vrrp_priority``, ``vrrp_no_swap``,
``vrrp_cpu_affinity``, ``vrrp_rlimit_rttime`` (global_defs), plus the Python-specific part: the garbage collector.

Why: at 10 ms adverts a Backup declares the Master dead after ~36 ms of silence.  On a loaded machine a
normal-priority process can wait longer than that for a CPU, and CPython's cyclic GC can pause the loop
too; either one, on the Master (adverts leave late) or on the Backup (its down timer wins the race
against a queued advert), is a spurious transition.  keepalived's answer is SCHED_RR (with
SCHED_RESET_ON_FORK so scripts it runs are ordinary processes), ``mlockall`` so a page-in never stalls
it, and an RLIMIT_RTTIME guard against a runaway realtime loop.  We do the same, and after start-up move
every object that exists into the GC's permanent generation (``gc.freeze``) and raise the gen-0 threshold,
so steady-state collections are rare and only scan the few objects the loop creates.  And we set the
process's timer slack (``PR_SET_TIMERSLACK``) from the kernel's 50 µs to 1 ns: a takeover's last wait (the
precise stage of a Backup's Master_Down_Timer, ``vrrp.io.driver``) is a nanosleep, which a normal task's slack
lets overshoot by up to that much on every failover (keepalived's timerfd has the same 50 µs).

:func:`parse_process_settings` is pure (keywords in, settings or a message naming the keyword out);
:func:`apply_process_settings` performs the system calls and returns what it could not do, for the log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass

#: mlockall flags (<sys/mman.h>).
_MCL_CURRENT = 1
_MCL_FUTURE = 2
#: prctl(2) options: the calling thread's timer slack (ns), inherited by threads and children created after.
_PR_SET_TIMERSLACK = 29
_PR_GET_TIMERSLACK = 30
#: gen-0 threshold in steady state (CPython's default is 700): the loop allocates little per advert, so a
#: higher threshold means a young collection every few seconds instead of several per second.
GC_GEN0_THRESHOLD = 50_000


class ProcessSettingsError(ValueError):
    """A tuning keyword has a bad value; the message names the keyword."""


@dataclass(frozen=True, slots=True)
class ProcessSettings:
    """The VRRP process's scheduling and memory options (None / empty / False: leave the default)."""

    rt_priority: int | None = None  # vrrp_rt_priority 1..99 -> SCHED_RR
    nice: int | None = None  # vrrp_priority -20..19
    no_swap: bool = False  # vrrp_no_swap -> mlockall
    cpu_affinity: tuple[int, ...] = ()  # vrrp_cpu_affinity
    rlimit_rttime_us: int | None = None  # vrrp_rlimit_rttime (µs); only with rt_priority
    gc_tuning: bool = True  # freeze start-up objects and raise the gen-0 threshold
    timer_slack_ns: int | None = 1  # prctl(PR_SET_TIMERSLACK); None: leave the kernel's (50 µs)


def _int(keyword: str, words: Sequence[str], lo: int, hi: int) -> int:
    if len(words) != 1:
        raise ProcessSettingsError(f"global_defs: {keyword} takes one number ({lo}..{hi}), got {' '.join(words)!r}")
    try:
        value = int(words[0])
    except ValueError:
        raise ProcessSettingsError(f"global_defs: {keyword} {words[0]!r} is not a number ({lo}..{hi})") from None
    if not lo <= value <= hi:
        raise ProcessSettingsError(f"global_defs: {keyword} {value} is out of range ({lo}..{hi})")
    return value


def parse_process_settings(extra: Sequence[tuple[str, Sequence[str]]]) -> ProcessSettings:
    """Read the ``vrrp_*`` tuning keywords from global_defs' keyword/words pairs."""
    rt = nice = rttime = None
    no_swap = False
    cpus: tuple[int, ...] = ()
    for keyword, words in extra:
        if keyword == "vrrp_rt_priority":
            rt = _int(keyword, words, 1, 99)
        elif keyword == "vrrp_priority":
            nice = _int(keyword, words, -20, 19)
        elif keyword == "vrrp_no_swap":
            no_swap = True
        elif keyword in ("vrrp_rlimit_rttime", "vrrp_rlimit_rtime"):
            rttime = _int(keyword, words, 1, 2**31 - 1)
        elif keyword == "vrrp_cpu_affinity":
            if not words:
                raise ProcessSettingsError("global_defs: vrrp_cpu_affinity needs at least one CPU number")
            cpus = tuple(_int(keyword, [w], 0, 4095) for w in words)
    return ProcessSettings(rt_priority=rt, nice=nice, no_swap=no_swap, cpu_affinity=cpus, rlimit_rttime_us=rttime)


def apply_process_settings(ps: ProcessSettings) -> list[str]:
    """Apply ``ps`` to the calling process; one message per option that could not be applied."""
    problems: list[str] = []
    if ps.timer_slack_ns is not None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(ps.timer_slack_ns), 0, 0, 0) != 0:
            problems.append(f"timer slack {ps.timer_slack_ns} ns: {os.strerror(ctypes.get_errno())}")
    if ps.cpu_affinity:
        try:
            os.sched_setaffinity(0, set(ps.cpu_affinity))
        except OSError as exc:
            problems.append(f"vrrp_cpu_affinity {' '.join(map(str, ps.cpu_affinity))}: {exc.strerror}")
    if ps.nice is not None:
        try:
            os.setpriority(os.PRIO_PROCESS, 0, ps.nice)
        except OSError as exc:
            problems.append(f"vrrp_priority {ps.nice}: {exc.strerror}")
    if ps.no_swap:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.mlockall(_MCL_CURRENT | _MCL_FUTURE) != 0:
            problems.append(f"vrrp_no_swap: mlockall failed: {os.strerror(ctypes.get_errno())}")
    if ps.rt_priority is not None:
        if ps.rlimit_rttime_us is not None:
            # soft limit: SIGXCPU (logged by the daemon); the hard limit a little later kills a runaway loop
            try:
                resource.setrlimit(resource.RLIMIT_RTTIME, (ps.rlimit_rttime_us, ps.rlimit_rttime_us + 10_000))
            except (OSError, ValueError) as exc:
                problems.append(f"vrrp_rlimit_rttime {ps.rlimit_rttime_us}: {exc}")
        try:
            os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(ps.rt_priority))
        except OSError as exc:
            problems.append(f"vrrp_rt_priority {ps.rt_priority}: {exc.strerror}")
    return problems


def tune_gc_after_startup(ps: ProcessSettings) -> None:
    """Call once the daemon is running: start-up garbage is collected, the survivors are frozen."""
    if not ps.gc_tuning:
        return
    gc.collect()
    gc.freeze()
    _g0, g1, g2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, g1, g2)


def timer_slack_ns() -> int:
    """The calling thread's timer slack in ns (prctl PR_GET_TIMERSLACK), for logs and tests."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    return int(libc.prctl(_PR_GET_TIMERSLACK, 0, 0, 0, 0))


def current_policy() -> tuple[str, int, int]:
    """(scheduling policy name, realtime priority, nice) of the calling process, for logs and tests."""
    policy = os.sched_getscheduler(0) & ~os.SCHED_RESET_ON_FORK
    names = {os.SCHED_OTHER: "SCHED_OTHER", os.SCHED_FIFO: "SCHED_FIFO", os.SCHED_RR: "SCHED_RR"}
    return names.get(policy, str(policy)), os.sched_getparam(0).sched_priority, os.getpriority(os.PRIO_PROCESS, 0)
