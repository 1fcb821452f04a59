"""vrrp.io.trackers: keepalived's rise/fall, track_file reading/init and process quorum, on a virtual clock, plus
real-time runs against real scripts, files (inotify) and processes."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vrrp.io.scripts import Script, ScriptResult
from vrrp.io.trackers import (
    INT_MAX,
    INT_MIN,
    FileTracker,
    FileTrackerSettings,
    ParamMatch,
    ProcConnector,
    ProcessQuorum,
    ProcessTracker,
    ProcessTrackerSettings,
    ProcEvent,
    ProcEventKind,
    ProcInfo,
    ScriptCounter,
    ScriptTracker,
    ScriptTrackerSettings,
    TrackerConfigError,
    TrackerKind,
    TrackerUpdate,
    init_track_file,
    parse_proc_events,
    parse_track_file_value,
    process_matches,
    read_proc,
    read_track_file,
    resolve_track_file,
    scan_processes,
    start_trackers,
)

TRUE = Script(("/bin/true",))

# Every wait in these tests is bounded; this only turns an unexpected hang into a traceback, fast.
pytestmark = pytest.mark.timeout(60)


class Stop(Exception):
    """Raised by a test double to end a tracker loop."""


class VirtualTime:
    """A clock and a sleep that advance virtual time instantly; ``on_sleep`` runs test steps at each sleep."""

    def __init__(self, steps: list[Callable[[], None]] | None = None) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.steps = list(steps or [])

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds
        if not self.steps:
            raise Stop
        self.steps.pop(0)()
        await asyncio.sleep(0)


async def _never(seconds: float) -> None:
    """A sleep that never returns: the code under test cannot poll, so what it reports came from its events."""
    await asyncio.Event().wait()


def _run_until_stop(coro: Awaitable[None]) -> None:
    async def main() -> None:
        with pytest.raises(Stop):
            await coro

    asyncio.run(main())


# ============================================================================================ script counter


def _feed(counter: ScriptCounter, results: str) -> list[bool | None]:
    return [counter.record(r == "1") for r in results]


def test_default_rise_fall_reports_every_flip() -> None:
    c = ScriptCounter(rise=1, fall=1)
    assert c.up is None
    assert _feed(c, "1011") == [True, False, True, None]


def test_rise_three_fall_two_like_keepalived() -> None:
    c = ScriptCounter(rise=3, fall=2)
    # initialising: one success is enough, then two failures go down, then three successes come back up
    assert _feed(c, "1") == [True]
    assert _feed(c, "00") == [None, False]
    assert c.up is False
    assert _feed(c, "111") == [None, None, True]
    # a single failure between successes resets nothing while up (result counts back up to the top)
    assert _feed(c, "0101") == [None, None, None, None]
    assert c.up is True


def test_first_failure_is_reported_even_with_fall_above_one() -> None:
    c = ScriptCounter(rise=2, fall=3)
    assert _feed(c, "0") == [False]
    assert _feed(c, "0") == [None]


def test_init_fail_starts_down_and_needs_rise_successes() -> None:
    c = ScriptCounter(rise=2, fall=1, init_fail=True)
    assert c.up is False
    assert _feed(c, "0") == [None]  # already down: not reported again
    assert _feed(c, "11") == [None, True]


@given(
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
    init_fail=st.booleans(),
    results=st.lists(st.booleans(), max_size=40),
)
def test_counter_matches_the_consecutive_runs_model(rise: int, fall: int, init_fail: bool, results: list[bool]) -> None:
    """Up after ``rise`` successes in a row, down after ``fall`` failures in a row; an initialising script
    reports its first result; every reported value is a real change."""
    c = ScriptCounter(rise, fall, init_fail)
    state: bool | None = False if init_fail else None
    run_ok = 0 if init_fail else rise - 1  # consecutive successes counted toward going up
    run_fail = 0
    for ok in results:
        if ok:
            run_ok, run_fail = run_ok + 1, 0
        else:
            run_ok, run_fail = 0, run_fail + 1
        expected: bool | None = None
        if state is None:
            expected = ok
        elif not state and ok and run_ok >= rise:
            expected = True
        elif state and not ok and run_fail >= fall:
            expected = False
        if expected is not None:
            state = expected
        assert c.record(ok) == expected
        assert c.up == state


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"rise": 0}, "rise must be >= 1"),
        ({"fall": 0}, "fall must be >= 1"),
        ({"interval": 0}, "interval must be > 0"),
        ({"timeout": -1}, "timeout must be > 0"),
        ({"weight": 254}, "weight must be in [-253, 253]"),
    ],
)
def test_script_settings_errors_name_block_and_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(TrackerConfigError) as exc:
        ScriptTrackerSettings("chk_haproxy", TRUE, **kwargs)  # type: ignore[arg-type]
    assert str(exc.value).startswith("vrrp_script chk_haproxy: ") and field in str(exc.value)


def test_timeout_defaults_to_interval() -> None:
    assert ScriptTrackerSettings("s", TRUE, interval=3).effective_timeout == 3
    assert ScriptTrackerSettings("s", TRUE, interval=3, timeout=1.5).effective_timeout == 1.5


# ============================================================================================ script loop


class FakeRunner:
    """Returns scripted results; the oracle for the loop's scheduling (the real runner is tested below)."""

    def __init__(self, vt: VirtualTime, results: str, duration: float = 0.0) -> None:
        self.vt = vt
        self.results = list(results)
        self.duration = duration
        self.calls: list[tuple[float, float | None]] = []

    async def __call__(self, script: Script, /, *, timeout: float | None) -> ScriptResult:
        self.calls.append((self.vt.now, timeout))
        if not self.results:
            raise Stop
        self.vt.now += self.duration
        r = self.results.pop(0)
        return ScriptResult(returncode=0 if r == "1" else 1, timed_out=r == "t")


def test_script_loop_runs_every_interval_and_emits_changes() -> None:
    vt = VirtualTime(steps=[lambda: None] * 10)
    runner = FakeRunner(vt, "110t1", duration=0.5)
    updates: list[TrackerUpdate] = []
    settings = ScriptTrackerSettings("chk", TRUE, interval=2, rise=1, fall=1)
    tracker = ScriptTracker(settings, updates.append, runner=runner, clock=vt.clock, sleep=vt.sleep)
    _run_until_stop(tracker.run())
    assert [t for t, _ in runner.calls] == [0, 2, 4, 6, 8, 10]  # measured from each start, not each end
    assert all(timeout == 2 for _, timeout in runner.calls)  # timeout defaults to the interval
    assert [(u.up, u.now) for u in updates] == [(True, 0.5), (False, 4.5), (True, 8.5)]
    assert all(u.kind is TrackerKind.SCRIPT and u.name == "chk" and u.value is None for u in updates)


def test_overrunning_script_starts_again_at_once() -> None:
    vt = VirtualTime(steps=[lambda: None] * 3)
    runner = FakeRunner(vt, "111", duration=5)
    tracker = ScriptTracker(ScriptTrackerSettings("s", TRUE, interval=2), lambda u: None, runner=runner,
                            clock=vt.clock, sleep=vt.sleep)  # fmt: skip
    _run_until_stop(tracker.run())
    assert [t for t, _ in runner.calls] == [0, 5, 10, 15]
    assert vt.sleeps == [0, 0, 0]


def test_init_fail_emits_down_before_the_first_run() -> None:
    vt = VirtualTime(steps=[lambda: None] * 3)
    updates: list[TrackerUpdate] = []
    settings = ScriptTrackerSettings("s", TRUE, interval=1, rise=2, init_fail=True)
    tracker = ScriptTracker(settings, updates.append, runner=FakeRunner(vt, "011"), clock=vt.clock, sleep=vt.sleep)
    _run_until_stop(tracker.run())
    assert [(u.up, u.now) for u in updates] == [(False, 0), (True, 2)]


def test_real_script_tracker_follows_a_flag_file(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    script = Script(("/bin/sh", "-c", f"test -e {flag}"))
    settings = ScriptTrackerSettings("real", script, interval=0.05, rise=2, fall=2)

    async def main() -> list[tuple[bool | None, float]]:
        seen: list[tuple[bool | None, float]] = []
        got = asyncio.Event()

        def emit(u: TrackerUpdate) -> None:
            seen.append((u.up, time.monotonic()))
            got.set()

        task = asyncio.create_task(ScriptTracker(settings, emit).run())
        try:
            await asyncio.wait_for(got.wait(), 5)  # first result: down (no flag)
            got.clear()
            flag.touch()
            await asyncio.wait_for(got.wait(), 5)  # rise=2 itself is proven on ScriptCounter, not by timing
            got.clear()
            flag.unlink()
            await asyncio.wait_for(got.wait(), 5)
        finally:
            task.cancel()
        return seen

    seen = asyncio.run(main())
    assert [up for up, _ in seen] == [False, True, False]


# ============================================================================================ track_file


@pytest.mark.parametrize(
    ("data", "value"),
    [
        (b"12\n", 12),
        (b"  -3", -3),
        (b"+7", 7),
        (b"0x1f", 31),
        (b"0X1F\n", 31),
        (b"017", 15),
        (b"08", 0),  # octal: the 8 ends the number
        (b"0x", 0),
        (b"5 apples", 5),
        (b"apples", 0),
        (b"", 0),
        (b"2147483647", INT_MAX),
        (b"-2147483648", INT_MIN),
        (b"2147483648", None),  # does not fit a C int: ignored
        (b"-99999999999999999999999", None),
    ],
)
def test_track_file_value_is_strtol_base_zero(data: bytes, value: int | None) -> None:
    assert parse_track_file_value(data) == value


def test_read_track_file_missing_or_empty_is_zero(tmp_path: Path) -> None:
    assert read_track_file(tmp_path / "missing") == 0
    (tmp_path / "empty").write_text("")
    assert read_track_file(tmp_path / "empty") == 0
    (tmp_path / "v").write_text("-42\n")
    assert read_track_file(tmp_path / "v") == -42


def test_init_file_creates_but_does_not_overwrite_unless_asked(tmp_path: Path) -> None:
    path = tmp_path / "prio"
    init_track_file(FileTrackerSettings("f", path, init_value=7))
    assert path.read_text() == "7\n"
    init_track_file(FileTrackerSettings("f", path, init_value=9))
    assert path.read_text() == "7\n"
    init_track_file(FileTrackerSettings("f", path, init_value=9, init_overwrite=True))
    assert path.read_text() == "9\n"
    init_track_file(FileTrackerSettings("f", path, init_value=1, init_overwrite=True), reload=True)
    assert path.read_text() == "9\n"  # never overwritten on a reload
    init_track_file(FileTrackerSettings("f", tmp_path / "zero", init_value=0))
    assert (tmp_path / "zero").read_text() == "0\n"


def test_init_file_refuses_a_non_regular_file(tmp_path: Path) -> None:
    with pytest.raises(TrackerConfigError, match=r"track_file f: cannot initialise .*not a regular file"):
        init_track_file(FileTrackerSettings("f", tmp_path, init_value=1, init_overwrite=True))


def test_track_file_directory_must_exist(tmp_path: Path) -> None:
    with pytest.raises(TrackerConfigError, match=r"track_file f: directory .*nodir does not exist"):
        resolve_track_file(FileTrackerSettings("f", tmp_path / "nodir" / "file"))
    assert resolve_track_file(FileTrackerSettings("f", tmp_path / "later")) == tmp_path.resolve() / "later"


def test_file_tracker_poll_mode_reports_changes_only(tmp_path: Path) -> None:
    path = tmp_path / "weight"
    steps = [
        lambda: path.write_text("5\n"),
        lambda: path.write_text("5\n"),  # same value: nothing
        lambda: path.write_text("99999999999\n"),  # out of range: ignored, value stays 5
        lambda: path.unlink(),  # gone: 0
        lambda: path.write_text("-2"),
    ]
    vt = VirtualTime(steps)
    updates: list[TrackerUpdate] = []
    tracker = FileTracker(FileTrackerSettings("tf", path), updates.append, watch="poll", poll_interval=1,
                          clock=vt.clock, sleep=vt.sleep)  # fmt: skip
    _run_until_stop(tracker.run())
    assert [(u.value, u.now) for u in updates] == [(0, 0), (5, 1), (0, 4), (-2, 5)]
    assert all(u.kind is TrackerKind.FILE and u.up is None for u in updates)


def test_file_tracker_inotify_sees_writes_renames_and_deletes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "weight"
    path.write_text("3\n")

    async def main() -> list[int | None]:
        values: list[int | None] = []
        queue: asyncio.Queue[TrackerUpdate] = asyncio.Queue()
        # ``sleep`` never returns: should the tracker fall back to polling, nothing would arrive, so every
        # value below is inotify's doing (what "at once" means, without timing it on a shared machine).
        tracker = FileTracker(FileTrackerSettings("tf", path), queue.put_nowait, sleep=_never)
        task = asyncio.create_task(tracker.run())

        async def expect(value: int) -> None:
            u = await asyncio.wait_for(queue.get(), 2)
            values.append(u.value)
            assert u.value == value

        try:
            await expect(3)
            await asyncio.sleep(0.05)  # let the watch start
            (tmp_path / "other").write_text("77\n")  # another file in the directory: ignored
            path.write_text("10\n")
            await expect(10)
            tmp = tmp_path / "weight.new"
            tmp.write_text("-4\n")
            tmp.rename(path)
            await expect(-4)
            path.unlink()
            await expect(0)
            path.write_text("1")
            await expect(1)
        finally:
            task.cancel()
        return values

    assert asyncio.run(main()) == [3, 10, -4, 0, 1]


# ============================================================================================ track_process


def _proc(pid: int, comm: str, *cmdline: str, ppid: int = 1) -> ProcInfo:
    return ProcInfo(pid, ppid, comm, tuple(cmdline))


def _settings(**kw: object) -> ProcessTrackerSettings:
    kw.setdefault("name", "p")
    kw.setdefault("process", "haproxy")
    return ProcessTrackerSettings(**kw)  # type: ignore[arg-type]


def test_comm_match_is_exact_not_a_regex() -> None:
    s = _settings(process="ssh")
    assert process_matches(s, _proc(1, "ssh", "/usr/bin/ssh", "host"))
    assert not process_matches(s, _proc(1, "sshd", "sshd"))  # pgrep ssh would match sshd; keepalived does not


@pytest.mark.parametrize(
    ("mode", "params", "argv", "match"),
    [
        (None, ("-f", "/etc/h.cfg"), ("haproxy", "-f", "/etc/h.cfg"), True),
        (None, ("-f", "/etc/h.cfg"), ("haproxy", "-f", "/etc/h.cfg", "-D"), False),  # exact by default
        (None, ("-f",), ("haproxy", "-f", "/etc/h.cfg"), False),
        (ParamMatch.PARTIAL, ("-f",), ("haproxy", "-f", "/etc/h.cfg"), True),
        (ParamMatch.PARTIAL, ("-f", "/etc/h"), ("haproxy", "-f", "/etc/h.cfg"), False),
        (ParamMatch.INITIAL, ("-f", "/etc/h"), ("haproxy", "-f", "/etc/h.cfg"), True),
        (ParamMatch.INITIAL, ("-f", "/etc/x"), ("haproxy", "-f", "/etc/h.cfg"), False),
        (ParamMatch.EXACT, (), ("haproxy",), True),  # bare param_match: must have no parameters
        (ParamMatch.EXACT, (), ("haproxy", "-D"), False),
        (None, ("-f",), ("/usr/sbin/haproxy", "-f"), False),  # argv[0] compared as configured
    ],
)
def test_parameter_matching(
    mode: ParamMatch | None, params: tuple[str, ...], argv: tuple[str, ...], match: bool
) -> None:
    s = _settings(params=params, param_match=mode)
    assert s.uses_cmdline
    assert process_matches(s, _proc(1, "haproxy", *argv)) is match


def test_full_command_matches_argv0_not_comm() -> None:
    s = _settings(process="/usr/sbin/haproxy", full_command=True)
    assert process_matches(s, _proc(1, "haproxy", "/usr/sbin/haproxy", "-f", "x"))
    assert not process_matches(s, _proc(1, "haproxy", "haproxy"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quorum": 3, "quorum_max": 2}, "quorum_max (2) must be >= quorum (3)"),
        ({"weight": 255}, "weight must be in [-254, 254]"),
        ({"fork_delay": -1}, "fork_delay must be >= 0"),
        ({"process": ""}, "process must be set"),
    ],
)
def test_process_settings_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TrackerConfigError) as exc:
        _settings(**kwargs)
    assert str(exc.value).startswith("vrrp_track_process p: ") and message in str(exc.value)


def test_quorum_and_quorum_max() -> None:
    q = ProcessQuorum(_settings(quorum=2, quorum_max=3))
    assert q.observe(0, {10: 1}) is False  # initial state reported at once
    assert q.observe(1, {10: 1, 11: 1}) is True
    assert q.observe(2, {10: 1, 11: 1, 12: 1}) is None
    assert q.observe(3, {10: 1, 11: 1, 12: 1, 13: 1}) is False  # above quorum_max
    assert q.observe(4, {10: 1, 11: 1}) is True


def test_quorum_max_zero_means_must_not_run() -> None:
    q = ProcessQuorum(_settings(quorum=0, quorum_max=0))
    assert q.observe(0, {}) is True
    assert q.observe(1, {5: 1}) is False


def test_terminate_delay_hides_a_restart_and_delays_a_real_loss() -> None:
    q = ProcessQuorum(_settings(terminate_delay=2.0))
    assert q.observe(0, {10: 1}) is True
    assert q.observe(1, {}) is None and q.deadline == 3.0
    assert q.observe(2, {11: 1}) is None and q.deadline is None  # restarted within the delay: never reported
    assert q.observe(3, {}) is None
    assert q.observe(4.9, {}) is None
    assert q.observe(5.0, {}) is False
    assert q.observe(6, {12: 1}) is True  # gaining quorum by a new process is immediate


def test_fork_delay_applies_to_forks_only() -> None:
    q = ProcessQuorum(_settings(quorum=2, fork_delay=1.0))
    assert q.observe(0, {10: 1}) is False
    assert q.observe(1, {10: 1, 11: 10}) is None and q.deadline == 2.0  # child of a tracked pid: a fork
    assert q.observe(2, {10: 1, 11: 10}) is True
    q2 = ProcessQuorum(_settings(quorum=2, fork_delay=1.0))
    q2.observe(0, {10: 1})
    assert q2.observe(1, {10: 1, 20: 1}) is True  # an unrelated new process: no delay


def test_process_tracker_polls_and_wakes_for_a_pending_delay() -> None:
    table: list[list[ProcInfo]] = [
        [_proc(10, "haproxy")],
        [],  # lost: terminate_delay 0.25 pending
        [],
        [],
    ]
    vt = VirtualTime(steps=[lambda: None] * 3)

    def scan(need_cmdline: bool) -> list[ProcInfo]:
        assert need_cmdline is False  # comm-only trackers never read cmdlines
        return table.pop(0)

    updates: list[TrackerUpdate] = []
    settings = [_settings(name="hap", terminate_delay=0.25), _settings(name="other", process="nginx")]
    tracker = ProcessTracker(
        settings, updates.append, poll_interval=1.0, scan=scan, clock=vt.clock, sleep=vt.sleep, events=False
    )
    _run_until_stop(tracker.run())
    assert vt.sleeps == [1.0, 0.25, 1.0, 1.0]  # the fourth sleep ends the test
    assert [(u.name, u.up, u.now) for u in updates] == [
        ("hap", True, 0),
        ("other", False, 0),
        ("hap", False, 1.25),
    ]


def test_scan_sees_this_process() -> None:
    me = [p for p in scan_processes(True) if p.pid == os.getpid()]
    assert len(me) == 1 and me[0].ppid == os.getppid() and me[0].cmdline
    assert me[0].comm == Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_read_proc_parses_an_awkward_comm(tmp_path: Path) -> None:
    exe = tmp_path / "t) (x y"
    shutil.copy("/bin/sleep", exe)
    proc = subprocess.Popen([str(exe), "30", "1"])
    try:
        deadline = time.monotonic() + 5
        info = read_proc(proc.pid)
        while (info is None or info.comm != "t) (x y" or not info.cmdline) and time.monotonic() < deadline:
            # between fork and exec the comm is python's, and during exec the comm changes before the new
            # argv is readable (cmdline briefly empty): a tracker just sees it at its next poll
            time.sleep(0.01)
            info = read_proc(proc.pid)
        assert info is not None and info.comm == "t) (x y" and info.ppid == os.getpid()
        assert info.cmdline == (str(exe), "30", "1")
    finally:
        proc.kill()
        proc.wait()
    assert read_proc(proc.pid) is None


def test_real_process_tracker_against_a_sleeping_process(tmp_path: Path) -> None:
    # a private copy of sleep gives a comm no other test or engineer uses
    comm = "trk" + uuid.uuid4().hex[:10]
    exe = tmp_path / comm
    shutil.copy("/bin/sleep", exe)
    updates: list[TrackerUpdate] = []

    async def main() -> None:
        got = asyncio.Event()

        def emit(u: TrackerUpdate) -> None:
            updates.append(u)
            got.set()

        settings = [
            ProcessTrackerSettings("by_comm", comm),
            ProcessTrackerSettings("by_args", str(exe), params=("30",)),
            ProcessTrackerSettings("two", comm, quorum=2),
        ]
        polls: list[float] = []

        async def poll_sleep(seconds: float) -> None:  # counts polls; the real wait is short and irrelevant
            polls.append(seconds)
            await asyncio.sleep(0.01)

        tracker = ProcessTracker(settings, emit, poll_interval=0.05, events=False, sleep=poll_sleep)
        task = asyncio.create_task(tracker.run())
        proc: subprocess.Popen[bytes] | None = None

        async def until(name: str, up: bool, after: int) -> None:
            while not any(u.name == name and u.up is up for u in updates[after:]):
                got.clear()
                await asyncio.wait_for(got.wait(), 5)

        try:
            await until("two", False, 0)  # the initial states are reported before the process starts
            n = len(updates)
            proc = subprocess.Popen([str(exe), "30"])
            await until("by_args", True, n)
            await until("by_comm", True, n)
            n = len(updates)
            proc.kill()
            proc.wait()
            polls_at_kill = len(polls)
            await until("by_comm", False, n)
            await until("by_args", False, n)
            # the next /proc scan sees it gone: at most the poll under way plus one, whatever the load
            assert len(polls) - polls_at_kill <= 2 and set(polls) == {0.05}
        finally:
            task.cancel()
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    asyncio.run(main())
    by_name: dict[str, list[bool | None]] = {}
    for u in updates:
        by_name.setdefault(u.name, []).append(u.up)
    assert by_name == {"by_comm": [False, True, False], "by_args": [False, True, False], "two": [False]}


def test_start_trackers_runs_every_kind_and_applies_init_file(tmp_path: Path) -> None:
    weight = tmp_path / "weight"

    async def main() -> dict[str, TrackerUpdate]:
        first: dict[str, TrackerUpdate] = {}
        tasks = start_trackers(
            lambda u: first.setdefault(u.name, u),
            scripts=[ScriptTrackerSettings("chk", TRUE, interval=0.05)],
            files=[FileTrackerSettings("tf", weight, init_value=4)],
            processes=[ProcessTrackerSettings("proc", "no-such-" + uuid.uuid4().hex[:6])],
        )
        assert weight.read_text() == "4\n"  # init_file applied before any task runs
        try:
            await _wait_until(lambda: len(first) == 3)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return first

    first = asyncio.run(main())
    assert (first["chk"].up, first["tf"].value, first["proc"].up) == (True, 4, False)


def test_start_trackers_fails_before_starting_anything(tmp_path: Path) -> None:
    async def main() -> None:
        with pytest.raises(TrackerConfigError, match="directory"):
            start_trackers(
                lambda u: None,
                scripts=[ScriptTrackerSettings("chk", TRUE)],
                files=[FileTrackerSettings("tf", tmp_path / "missing" / "f")],
            )
        assert len(asyncio.all_tasks()) == 1  # only main()

    asyncio.run(main())


async def _wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


# ============================================================================================ proc connector


def _nl(what: int, payload: bytes, idx: int = 1) -> bytes:
    body = struct.pack("=IIIIHH", idx, 1, 0, 0, 16 + len(payload), 0) + struct.pack("=IIQ", what, 0, 0) + payload
    return struct.pack("=IHHII", 16 + len(body), 3, 0, 0, 0) + body


def test_parse_proc_events_keeps_processes_and_skips_threads() -> None:
    data = b"".join(
        [
            _nl(0x1, struct.pack("=IIII", 10, 10, 20, 20)),  # process 10 forked process 20
            _nl(0x1, struct.pack("=IIII", 10, 10, 21, 10)),  # a thread of 10: skipped
            _nl(0x2, struct.pack("=II", 20, 20)),  # 20 exec'd
            _nl(0x200, struct.pack("=II16s", 20, 20, b"newname")),  # 20 renamed itself
            _nl(0x80000000, struct.pack("=IIII", 22, 20, 0, 17)),  # a thread of 20 exited: skipped
            _nl(0x80000000, struct.pack("=IIII", 20, 20, 0, 17)),  # 20 exited
            _nl(0x4, struct.pack("=II", 20, 20)),  # PROC_EVENT_UID: not ours
            _nl(0x2, struct.pack("=II", 30, 30), idx=5),  # another connector
            b"\x01\x02",  # trailing garbage
        ]
    )
    assert parse_proc_events(data) == [
        ProcEvent(ProcEventKind.FORK, 20, 10),
        ProcEvent(ProcEventKind.EXEC, 20),
        ProcEvent(ProcEventKind.COMM, 20),
        ProcEvent(ProcEventKind.EXIT, 20),
    ]


def test_events_update_the_tables_incrementally() -> None:
    procs = {1: _proc(1, "init"), 10: _proc(10, "haproxy"), 30: _proc(30, "bash")}
    updates: list[TrackerUpdate] = []
    tracker = ProcessTracker(
        [_settings(name="hap", quorum=2, fork_delay=0.5)],
        updates.append,
        scan=lambda need: list(procs.values()),
        read_proc=lambda pid, need: procs.get(pid),
    )
    tracker.poll()
    assert tracker.matching["hap"] == {10: 1}
    tracker.apply(ProcEvent(ProcEventKind.FORK, 11, 10))  # haproxy forks a worker: counted via its parent
    tracker.apply(ProcEvent(ProcEventKind.FORK, 31, 30))  # bash forks: not counted
    assert tracker.matching["hap"] == {10: 1, 11: 10}
    tracker.evaluate()
    assert tracker.quorums["hap"].pending is not None  # quorum gained by a fork waits fork_delay
    procs[31] = _proc(31, "haproxy", ppid=30)
    tracker.apply(ProcEvent(ProcEventKind.EXEC, 31))  # bash's child execs haproxy: counted
    procs[11] = _proc(11, "sh", ppid=10)
    tracker.apply(ProcEvent(ProcEventKind.EXEC, 11))  # the worker execs something else: not counted
    assert tracker.matching["hap"] == {10: 1, 31: 30}
    tracker.apply(ProcEvent(ProcEventKind.EXIT, 10))
    assert tracker.matching["hap"] == {31: 30}
    tracker.evaluate()
    assert [u.up for u in updates] == [False]  # the fork's gain never lasted long enough to be reported


def _connector_available() -> bool:
    try:
        ProcConnector.open().close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _connector_available(), reason="proc connector needs root in the initial net namespace")
def test_real_process_events_are_seen_without_polling(tmp_path: Path) -> None:
    comm = "trk" + uuid.uuid4().hex[:10]
    exe = tmp_path / comm
    shutil.copy("/bin/sleep", exe)
    updates: list[TrackerUpdate] = []

    async def main() -> None:
        got = asyncio.Event()

        def emit(u: TrackerUpdate) -> None:
            updates.append(u)
            got.set()

        # ``sleep`` never returns (no fallback poll) and the safety rescan is an hour away: only the proc
        # connector's events can explain a reaction
        tracker = ProcessTracker(
            [ProcessTrackerSettings("p", comm)], emit, poll_interval=60, events=True, resync_interval=3600, sleep=_never
        )
        task = asyncio.create_task(tracker.run())
        proc: subprocess.Popen[bytes] | None = None
        try:
            await asyncio.wait_for(got.wait(), 5)
            assert tracker.using_events and updates[-1].up is False
            for action in ("start", "kill"):
                got.clear()
                if action == "start":
                    proc = subprocess.Popen([str(exe), "30"])
                else:
                    assert proc is not None
                    proc.kill()
                    proc.wait()
                await asyncio.wait_for(got.wait(), 30)  # a liveness bound, not a timing: no poll can fire
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()

    asyncio.run(main())
    assert [u.up for u in updates] == [False, True, False]


def test_events_fall_back_to_polling_outside_the_initial_namespace() -> None:
    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare(1)")
    program = (
        "import asyncio\n"
        "from vrrp.io.trackers import ProcessTracker, ProcessTrackerSettings\n"
        "seen = []\n"
        "t = ProcessTracker([ProcessTrackerSettings('p', 'no-such-proc')], seen.append, events=True)\n"
        "async def main():\n"
        "    task = asyncio.create_task(t.run())\n"
        "    while not seen:\n"
        "        await asyncio.sleep(0.01)\n"
        "    task.cancel()\n"
        "asyncio.run(main())\n"
        "print(t.using_events, seen[0].up)\n"
    )
    # a private, empty network namespace that dies with the child (no traffic, nothing to clean up)
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=Path(__file__).parents[2],
    )
    assert done.stdout.split() == ["False", "False"], done.stderr


def test_cancellation_is_never_lost_under_a_fork_storm() -> None:
    """Regression: with asyncio.wait_for (3.11) a cancel arriving as a wait completed was swallowed and the
    tracker task ran forever.  Cancel trackers many times while processes come and go; each must stop."""
    stop = threading.Event()

    def storm() -> None:
        while not stop.is_set():
            subprocess.run(["/bin/true"], check=False)

    async def main() -> None:
        for i in range(40):
            if i % 2:
                tracker = ScriptTracker(ScriptTrackerSettings("s", TRUE, interval=0.001), lambda u: None)
                run = tracker.run
            else:
                run = ProcessTracker([ProcessTrackerSettings("p", "no-such-proc")], lambda u: None).run
            task = asyncio.create_task(run())
            await asyncio.sleep(0.005 * (i % 5))
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=3)
            assert task in done, f"iteration {i}: the cancelled tracker kept running"

    threads = [threading.Thread(target=storm) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        asyncio.run(main())
    finally:
        stop.set()
        for t in threads:
            t.join()
