"""Files the daemon writes never follow what a local user planted at their paths (symlinks, hard links, FIFOs)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pykeepalived.daemon.files import DUMP_FILE_MODE, PID_FILE_MODE, read_small, write_atomic
from pykeepalived.daemon.pidfile import PidFile, PidFileError


def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    return victim


def test_write_atomic_replaces_a_planted_symlink_not_its_target(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    dump = tmp_path / "keepalived.data"
    dump.symlink_to(victim)
    write_atomic(dump, "dump\n", mode=DUMP_FILE_MODE)
    assert victim.read_text() == "precious\n"
    assert not dump.is_symlink() and dump.read_text() == "dump\n"
    assert stat.S_IMODE(dump.stat().st_mode) == DUMP_FILE_MODE


def test_write_atomic_leaves_a_hard_linked_file_alone(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    dump = tmp_path / "keepalived.stats"
    os.link(victim, dump)
    write_atomic(dump, "stats\n", mode=DUMP_FILE_MODE)
    assert victim.read_text() == "precious\n" and dump.read_text() == "stats\n"


def test_write_atomic_leaves_no_temporary_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    (target / "x").write_text("")
    with pytest.raises(OSError):
        write_atomic(target, "x", mode=DUMP_FILE_MODE)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way"]


def test_read_small_does_not_follow_links_or_block_on_fifos(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    link = tmp_path / "link"
    link.symlink_to(victim)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert read_small(link) is None
    assert read_small(fifo) is None  # would block for ever with a plain open()
    assert read_small(tmp_path / "absent") is None
    assert read_small(victim) == "precious\n"


def test_pid_file_over_a_planted_symlink(tmp_path: Path) -> None:
    victim = _victim(tmp_path)
    pid_path = tmp_path / "keepalived.pid"
    pid_path.symlink_to(victim)
    pf = PidFile.create(pid_path)
    assert victim.read_text() == "precious\n"
    assert pid_path.read_text() == f"{os.getpid()}\n"
    assert stat.S_IMODE(pid_path.stat().st_mode) == PID_FILE_MODE
    pf.remove()
    assert not pid_path.exists() and victim.exists()


def test_pid_file_refuses_a_live_owner(tmp_path: Path) -> None:
    pid_path = tmp_path / "keepalived.pid"
    pid_path.write_text("1\n")  # init is alive
    with pytest.raises(PidFileError, match="already running"):
        PidFile.create(pid_path)
