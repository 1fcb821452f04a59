"""vrrp.io.notify: keepalived's notify script argv, the FIFO line format with real readers, never blocking."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
from pathlib import Path

import pytest

from vrrp.io.notify import (
    Notifier,
    NotifyConfigError,
    NotifyFifo,
    NotifyScripts,
    NotifyState,
    Subject,
    fifo_line,
    generic_notify_script,
)
from vrrp.io.scripts import Script, parse_script, resolve_user

# Every wait in these tests is bounded; this only turns an unexpected hang into a traceback, fast.
pytestmark = pytest.mark.timeout(60)


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(0o755)
    return path


def _recorder(tmp_path: Path, name: str) -> tuple[Script, Path]:
    """A script that appends its argv (one line, NUL-free, words separated by |) to a file."""
    out = tmp_path / f"{name}.out"
    path = _script(tmp_path / f"{name}.sh", f'(IFS="|"; echo "$*") >> {out}')
    return Script((str(path),)), out


async def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        await asyncio.sleep(0.01)


def test_fifo_line_format() -> None:
    assert fifo_line(Subject.INSTANCE, "VI_1", NotifyState.MASTER, 100) == 'INSTANCE "VI_1" MASTER 100\n'
    assert fifo_line(Subject.GROUP, "G1", NotifyState.BACKUP, 0) == 'GROUP "G1" BACKUP 0\n'
    assert fifo_line(Subject.INSTANCE, "VI_1", "MASTER_RX_LOWER_PRI", 90) == 'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 90\n'


def test_generic_notify_argv_appends_the_four_arguments() -> None:
    script = Script(tuple(parse_script("/etc/ka/notify.sh 'my arg'")))
    argv = generic_notify_script(script, Subject.INSTANCE, "VI_1", NotifyState.FAULT, 95).argv
    assert argv == ("/etc/ka/notify.sh", "my arg", "INSTANCE", "VI_1", "FAULT", "95")
    group = generic_notify_script(script, Subject.GROUP, "G1", NotifyState.MASTER, 200).argv
    assert group[-4:] == ("GROUP", "G1", "MASTER", "0")  # a group's priority is always 0


def test_instance_and_group_scripts_run_with_keepalived_arguments(tmp_path: Path) -> None:
    master, master_out = _recorder(tmp_path, "master")
    backup, backup_out = _recorder(tmp_path, "backup")
    generic, generic_out = _recorder(tmp_path, "generic")
    scripts = NotifyScripts(master=master.with_args("static arg"), backup=backup, generic=generic)

    async def main() -> Notifier:
        n = Notifier()
        n.instance("VI_1", NotifyState.MASTER, 100, scripts)
        n.group("G1", NotifyState.BACKUP, scripts)
        n.instance("VI_1", NotifyState.STOP, 0, scripts)  # no notify_stop: only the generic script runs
        assert await n.drain(5)
        await n.aclose()
        return n

    n = asyncio.run(main())
    assert master_out.read_text().splitlines() == ["static arg"]
    assert backup_out.read_text().splitlines() == [""]  # the state's own script gets no extra arguments
    assert sorted(generic_out.read_text().splitlines()) == sorted(
        ["INSTANCE|VI_1|MASTER|100", "GROUP|G1|BACKUP|0", "INSTANCE|VI_1|STOP|0"]
    )
    assert n.started == 5 and n.failed == 0


def test_fifo_lines_reach_a_real_reader_in_order(tmp_path: Path) -> None:
    path = tmp_path / "notify.fifo"
    fifo = NotifyFifo(path)
    lines: list[str] = []

    async def main() -> None:
        n = Notifier([fifo])
        await n.start()
        assert stat.S_ISFIFO(path.stat().st_mode) and stat.S_IMODE(path.stat().st_mode) == 0o600

        def read() -> None:
            with open(path) as f:
                for line in f:
                    lines.append(line)
                    if line.startswith("GROUP"):
                        return

        reader = threading.Thread(target=read)
        reader.start()
        n.instance("VI_1", NotifyState.BACKUP, 100, NotifyScripts())
        n.instance("VI_1", NotifyState.MASTER, 100, NotifyScripts())
        n.priority_change("VI_1", NotifyState.MASTER, 90)
        n.master_rx_lower_pri("VI_1", 90, NotifyScripts())
        n.instance("VI_2", NotifyState.FAULT, 50, NotifyScripts())
        n.group("G1", NotifyState.MASTER, NotifyScripts())
        await asyncio.to_thread(reader.join, 5)
        assert not reader.is_alive()
        await n.aclose()

    asyncio.run(main())
    assert lines == [
        'INSTANCE "VI_1" BACKUP 100\n',
        'INSTANCE "VI_1" MASTER 100\n',
        'INSTANCE "VI_1" MASTER_PRIORITY 90\n',
        'INSTANCE "VI_1" MASTER_RX_LOWER_PRI 90\n',
        'INSTANCE "VI_2" FAULT 50\n',
        'GROUP "G1" MASTER 0\n',
    ]
    assert not path.exists()  # we created it, so we removed it


def test_notify_fifo_script_gets_the_fifo_path_and_reads_the_lines(tmp_path: Path) -> None:
    out = tmp_path / "consumer.out"
    consumer = _script(tmp_path / "consumer.sh", f'while read -r line; do echo "$line" >> {out}; done < "$1"')
    path = tmp_path / "vrrp.fifo"
    fifo = NotifyFifo(path, script=Script((str(consumer),)))

    async def main() -> None:
        n = Notifier([fifo])
        await n.start()
        n.instance("VI_1", NotifyState.MASTER, 150, NotifyScripts())
        n.group("G1", NotifyState.FAULT, NotifyScripts())
        await _wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 2)
        await n.aclose(fifo_script_grace=2)

    asyncio.run(main())
    assert out.read_text().splitlines() == ['INSTANCE "VI_1" MASTER 150', 'GROUP "G1" FAULT 0']


def test_existing_fifo_is_kept_and_a_non_fifo_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mine.fifo"
    os.mkfifo(path)
    fifo = NotifyFifo(path)
    fifo.open()
    assert fifo.write('INSTANCE "X" MASTER 1\n')
    fifo.close()
    assert path.exists()  # not ours: left in place
    regular = tmp_path / "plain"
    regular.write_text("")
    with pytest.raises(NotifyConfigError, match=f"notify fifo {regular}: exists and is not a FIFO"):
        NotifyFifo(regular).open()
    with pytest.raises(NotifyConfigError, match="cannot create it"):
        NotifyFifo(tmp_path / "no" / "dir.fifo").open()


def test_full_fifo_drops_lines_instead_of_blocking(tmp_path: Path) -> None:
    fifo = NotifyFifo(tmp_path / "f")
    fifo.open()
    line = fifo_line(Subject.INSTANCE, "x" * 200, NotifyState.MASTER, 1)

    def fill() -> None:
        for _ in range(2000):  # ~450 kB into a 64 kB pipe nobody reads
            fifo.write(line)

    writer = threading.Thread(target=fill, daemon=True)
    writer.start()
    writer.join(120)  # a liveness bound, not a timing: one blocking write into the full pipe never returns
    assert not writer.is_alive(), "a write to the full FIFO blocked"
    assert fifo.dropped > 0 and fifo.written > 0 and fifo.written + fifo.dropped == 2000
    fifo.close()


def test_notifications_never_block_and_stay_bounded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pidfile = tmp_path / "pids"
    slow = _script(tmp_path / "slow.sh", f"echo $$ >> {pidfile}\nexec sleep 30")
    scripts = NotifyScripts(master=Script((str(slow),)))

    async def main() -> Notifier:
        n = Notifier(max_pending=2)
        for _ in range(3):
            n.instance("VI_1", NotifyState.MASTER, 100, scripts)
        # instance() returned before the scripts even started (they run in tasks of this loop) ...
        assert n.pending == 2 and n.dropped == 1 and not pidfile.exists()
        await _wait_for(lambda: pidfile.exists() and len(pidfile.read_text().split()) == 2)
        # ... and both are still sleeping their 30 s: nothing waited for them
        assert all(Path(f"/proc/{pid}").exists() for pid in map(int, pidfile.read_text().split()))
        assert not await n.drain(0.1)
        await n.aclose(timeout=0.1)
        assert n.pending == 0
        return n

    with caplog.at_level(logging.ERROR, logger="vrrp.io.notify"):
        asyncio.run(main())
    assert any("max_pending" in r.getMessage() for r in caplog.records)
    for pid in map(int, pidfile.read_text().split()):  # aclose killed the stragglers
        deadline = time.monotonic() + 2
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not Path(f"/proc/{pid}").exists()


def test_failing_notify_scripts_are_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    failing = _script(tmp_path / "fail.sh", "exit 7")
    scripts = NotifyScripts(fault=Script((str(failing),)), generic=Script((str(tmp_path / "missing.sh"),)))

    async def main() -> Notifier:
        n = Notifier()
        n.instance("VI_1", NotifyState.FAULT, 0, scripts)
        await n.drain(5)
        await n.aclose()
        return n

    with caplog.at_level(logging.WARNING, logger="vrrp.io.notify"):
        n = asyncio.run(main())
    assert n.failed == 2
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "exited with status 7" in messages and "could not start" in messages


def test_aclose_lets_stop_scripts_finish(tmp_path: Path) -> None:
    done = tmp_path / "stopped"
    stop = _script(tmp_path / "stop.sh", f"sleep 0.2\ntouch {done}")

    async def main() -> None:
        n = Notifier()
        n.instance("VI_1", NotifyState.STOP, 0, NotifyScripts(stop=Script((str(stop),))))
        await n.aclose(timeout=5)

    asyncio.run(main())
    assert done.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown")
def test_created_fifo_belongs_to_the_configured_user(tmp_path: Path) -> None:
    nobody = resolve_user("nobody")
    fifo = NotifyFifo(tmp_path / "f", user=nobody)
    fifo.open()
    st = (tmp_path / "f").stat()
    assert (st.st_uid, st.st_gid) == (nobody.uid, nobody.gid)
    fifo.close()


def test_a_reload_keeps_an_unchanged_fifo_and_swaps_the_others(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """keepalived's reload closes its notify FIFOs and opens the new configuration's; ours leaves a FIFO whose
    path and script stay (same reader, nothing lost), closes one no longer configured (its reader sees end of
    file, the FIFO we made is removed) and opens a new one with its script."""
    def consumer(name: str) -> tuple[Script, Path]:
        out = tmp_path / f"{name}.out"
        path = _script(tmp_path / f"{name}.sh", f'while read -r line; do echo "$line" >> {out}; done < "$1"; '
                                                 f'echo EOF >> {out}')
        return Script((str(path),)), out

    keep_script, keep_out = consumer("keep")
    old_script, old_out = consumer("old")
    new_script, new_out = consumer("new")
    bad_script, bad_out = consumer("bad")
    keep = NotifyFifo(tmp_path / "keep.fifo", script=keep_script)
    old = NotifyFifo(tmp_path / "old.fifo", script=old_script)

    async def main() -> tuple[list[NotifyFifo], list[NotifyFifo], list[NotifyFifo]]:
        n = Notifier([keep, old])
        await n.start()
        n.instance("VI_1", NotifyState.MASTER, 150, NotifyScripts())
        await _wait_for(lambda: old_out.exists() and keep_out.exists())
        closed, opened = await n.replace_fifos(
            [NotifyFifo(tmp_path / "keep.fifo", script=keep_script),
             NotifyFifo(tmp_path / "new.fifo", script=new_script),
             NotifyFifo(tmp_path / "no-dir" / "bad.fifo", script=bad_script)], fifo_script_grace=2)
        fifos = list(n.fifos)
        n.instance("VI_1", NotifyState.BACKUP, 150, NotifyScripts())
        await _wait_for(lambda: new_out.exists() and len(keep_out.read_text().splitlines()) == 2)
        await n.aclose(fifo_script_grace=2)
        return closed, opened, fifos

    closed, opened, fifos = asyncio.run(main())
    assert closed == [old] and [f.path.name for f in opened] == ["new.fifo"]
    assert fifos[0] is keep and [f.path.name for f in fifos] == ["keep.fifo", "new.fifo"]  # the bad one left out
    assert old_out.read_text().splitlines() == ['INSTANCE "VI_1" MASTER 150', "EOF"]  # closed: end of file
    assert not (tmp_path / "old.fifo").exists()
    assert keep_out.read_text().splitlines() == ['INSTANCE "VI_1" MASTER 150', 'INSTANCE "VI_1" BACKUP 150', "EOF"]
    assert new_out.read_text().splitlines() == ['INSTANCE "VI_1" BACKUP 150', "EOF"]
    assert any("bad.fifo" in r.getMessage() and r.levelname == "ERROR" for r in caplog.records)
    assert not bad_out.exists()  # a FIFO that cannot be made starts no script
