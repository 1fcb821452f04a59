"""keepalived's logging choices per process: ``-l`` console *and* syslog, ``-G`` no syslog, ``-S`` facility, the
syslog tag ``ident[pid]`` with the pid of the process that writes the line (after a fork, the new pid)."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.daemon import logs
from pykeepalived.daemon.logs import facility_name, setup_logging
from pykeepalived.daemon.options import DaemonOptions


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
