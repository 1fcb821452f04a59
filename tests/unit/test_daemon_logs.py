"""keepalived's logging choices per process: ``-l`` console *and* syslog, ``-G`` no syslog, ``-S`` facility, the
syslog tag ``ident[pid]`` with the pid of the process that writes the line (after a fork, the new pid)."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.daemon import logs
from pykeepalived.daemon.logs import facility_name, setup_logging
from pykeepalived.daemon.options import DaemonOptions
from pykeepalived.daemon.parent_log import ParentLog, stamp


@pytest.fixture
def syslog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[socket.socket]:
    path = tmp_path / "log"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(5)
    monkeypatch.setattr(logs, "SYSLOG_SOCKET", str(path))
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    yield s
    for h in root.handlers[:]:
        root.removeHandler(h)
        h.close()
    root.handlers[:], root.level = saved[0], saved[1]
    s.close()


def test_console_and_syslog_with_the_pid_of_the_writer(syslog: socket.socket, capsys: pytest.CaptureFixture[str],
                                                       ) -> None:
    setup_logging(DaemonOptions("k.conf", log_console=True, log_facility="local3"), ident="Keepalived_vrrp")
    logging.getLogger("t").info("hello")
    data = syslog.recv(4096).decode()
    # <PRI> = facility local3 (19) * 8 + info (6)
    assert data.startswith(f"<{19 * 8 + 6}>Keepalived_vrrp[{os.getpid()}]: hello"), data
    assert "hello" in capsys.readouterr().err
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        logging.getLogger("t").info("from the child")
        os._exit(0)
    os.waitpid(pid, 0)
    assert syslog.recv(4096).decode().startswith(f"<158>Keepalived_vrrp[{pid}]: from the child")


def test_no_syslog_flag(syslog: socket.socket) -> None:
    setup_logging(DaemonOptions("k.conf", log_console=True, no_syslog=True))
    logging.getLogger("t").info("hello")
    syslog.settimeout(0.2)
    with pytest.raises(TimeoutError):
        syslog.recv(4096)


def test_facility_names() -> None:
    assert [facility_name(x) for x in ("0", "7", "local5", "user", "daemon")] == \
        ["local0", "local7", "local5", "user", "daemon"]
    assert [facility_name(x) for x in ("8", "foo", "-1", "local8", "")] == [None] * 5


# ----------------------------------------------------------------- the lean watchdog's own log (parent_log)


def _lines_of_both(tmp_path: Path, syslog: socket.socket, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch, *, detail: bool) -> tuple[list[object], list[object]]:
    """The console, the log file and the syslog datagrams of the same lines written by ``setup_logging`` (the
    children's log) and by ``ParentLog`` (the watchdog's), the clock fixed so the stamps can be compared."""
    monkeypatch.setattr(time, "time", lambda: 1_796_000_000.25)
    seen: list[list[object]] = []
    for writer in ("logging", "parent_log"):
        log_file = tmp_path / f"{writer}.log"
        if writer == "logging":
            setup_logging(DaemonOptions("k.conf", log_console=True, log_facility="local3", log_file=str(log_file),
                                        log_detail=detail))
            out: logging.Logger | ParentLog = logging.getLogger("pykeepalived.parent")
        else:
            out = ParentLog(console=True, log_file=str(log_file), syslog=True, facility="local3", detail=detail,
                            syslog_socket=logs.SYSLOG_SOCKET)
        out.debug("a detail %d", 1)
        out.info("Starting %s child process, pid=%d", "VRRP", 42)
        out.warning("VRRP child process, pid %d, %s", 42, "killed by signal 9 (SIGKILL)")
        out.error("pid %d exited with permanent error %s. Terminating", 42, "CONFIG")
        if isinstance(out, ParentLog):
            out.close()
        else:
            logging.shutdown()
        syslog.settimeout(0.2)
        datagrams = []
        with contextlib.suppress(TimeoutError):
            while True:
                datagrams.append(syslog.recv(4096))
        seen.append([capsys.readouterr().err, log_file.read_text(), datagrams])
    return seen[0], seen[1]


@pytest.mark.parametrize("detail", [False, True])
def test_the_watchdog_writes_the_bytes_logging_writes(tmp_path: Path, syslog: socket.socket,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch, detail: bool) -> None:
    by_logging, by_parent_log = _lines_of_both(tmp_path, syslog, capsys, monkeypatch, detail=detail)
    assert by_parent_log == by_logging
    console, file_text, datagrams = by_parent_log
    assert isinstance(console, str) and isinstance(datagrams, list)
    assert console == file_text and console.count("\n") == (4 if detail else 3)
    assert f"{stamp(1_796_000_000.25)}: Starting VRRP child process, pid=42\n" in console
    assert stamp(1_796_000_000.25).endswith(".250")
    # <PRI> = local3 (19) * 8 + warning (4); ident[pid]: message, NUL-terminated as SysLogHandler sends it
    assert f"<156>Keepalived[{os.getpid()}]: VRRP child process, pid 42, killed by signal 9 (SIGKILL)\0".encode() \
        in datagrams


@pytest.mark.parametrize("log_file", [None, "no-such-dir/k.log"])
def test_the_watchdog_log_falls_back_to_the_console(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                    log_file: str | None) -> None:
    out = ParentLog(console=False, log_file=None if log_file is None else str(tmp_path / log_file), syslog=True,
                    facility="daemon", detail=False, syslog_socket=str(tmp_path / "no-syslog-here"))
    out.info("nowhere else to go")
    out.close()
    assert capsys.readouterr().err.endswith(": nowhere else to go\n")


def test_the_watchdog_log_reconnects_once_to_a_restarted_syslog(tmp_path: Path) -> None:
    path = tmp_path / "log"
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(str(path))
    out = ParentLog(console=False, log_file=None, syslog=True, facility="daemon", detail=False,
                    syslog_socket=str(path))
    first.close()
    path.unlink()
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # syslog restarted on the same path
    second.bind(str(path))
    second.settimeout(5)
    out.info("after the restart")
    assert second.recv(4096).endswith(b": after the restart\0")
    out.close()
    second.close()


def test_the_lean_watchdog_imports_nothing_heavy() -> None:
    """The watchdog's interpreter (``python -I -S``, the project's root on the path) imports only what it needs:
    each of these would add ~1-3 MiB to a process that idles for the daemon's whole life (issue 14)."""
    import subprocess
    import sys

    import pykeepalived

    root = str(Path(pykeepalived.__file__).parent.parent)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import pykeepalived.daemon.watchdog; "
            "print(' '.join(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, root], capture_output=True, text=True, check=True)
    modules = set(out.stdout.split())
    assert "pykeepalived.daemon.watchdog" in modules
    heavy = {"logging", "dataclasses", "json", "typing", "pathlib", "tempfile", "inspect", "re", "asyncio",
             "pykeepalived.daemon.run", "pykeepalived.daemon.options", "pykeepalived.config"}
    assert modules & heavy == set()
