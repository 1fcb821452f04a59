"""systemd: the notifications arrive at a real NOTIFY_SOCKET listener (AF_UNIX datagram, as systemd's), and the unit
file is Debian's keepalived unit with ExecStart pointed at pykeepalived."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.daemon.sd_notify import SystemdNotifier

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "contrib" / "systemd" / "pykeepalived.service"
DEBIAN_UNIT = Path("/lib/systemd/system/keepalived.service")


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "notify")
    sock.bind(path)
    sock.settimeout(5)
    yield path, sock
    sock.close()


def _fields(sock: socket.socket) -> dict[str, str]:
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n"))


def test_lifecycle_messages_reach_the_socket(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    n = SystemdNotifier(path)
    assert n.enabled
    assert n.ready("Startup complete")
    assert _fields(sock) == {"READY": "1", "MAINPID": str(os.getpid()), "STATUS": "Startup complete"}
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert n.reloading()
    got = _fields(sock)
    assert got["RELOADING"] == "1" and int(got["MONOTONIC_USEC"]) >= before and "STATUS" not in got
    assert n.ready()
    assert _fields(sock)["READY"] == "1"
    assert n.stopping("Stopping")
    assert _fields(sock) == {"STOPPING": "1", "STATUS": "Stopping"}
    assert n.error(22)
    assert _fields(sock) == {"ERRNO": "22"}
    assert len(n.sent) == 5


def test_status_cannot_inject_fields(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    SystemdNotifier(path).status("two\nREADY=1")
    assert _fields(sock) == {"STATUS": "two READY=1"}


def test_abstract_socket_address() -> None:
    name = f"pykeepalived-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(5)
        assert SystemdNotifier("@" + name).ready()
        assert _fields(sock)["READY"] == "1"


def test_environment_is_consumed_so_children_never_notify(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    env = {"NOTIFY_SOCKET": path, "PATH": "/usr/bin"}
    n = SystemdNotifier.from_environ(env)
    assert n.enabled and "NOTIFY_SOCKET" not in env
    assert n.ready() and _fields(sock)["READY"] == "1"
    assert SystemdNotifier.from_environ({"NOTIFY_SOCKET": path}, unset=False).enabled


def test_without_systemd_everything_is_a_quiet_no_op(tmp_path: Path) -> None:
    n = SystemdNotifier.from_environ({})
    assert not n.enabled
    assert not n.ready() and not n.reloading() and not n.stopping() and n.sent == []
    gone = SystemdNotifier(str(tmp_path / "nobody-listens"))
    assert gone.enabled and not gone.ready()  # socket missing: logged, not raised


def test_non_unix_address_is_refused_loudly(caplog: pytest.LogCaptureFixture) -> None:
    n = SystemdNotifier("vsock:2:1234")
    assert not n.enabled
    assert "not a unix socket address" in caplog.text


def _directives(path: Path) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        out.setdefault((section, key.strip()), []).append(value.strip())
    return out


@pytest.mark.skipif(not DEBIAN_UNIT.exists(), reason="needs Debian's keepalived package (bash bootstrap.sh)")
def test_unit_is_debians_with_exec_start_pointed_at_pykeepalived() -> None:
    ours, theirs = _directives(UNIT), _directives(DEBIAN_UNIT)
    for key, values in theirs.items():
        if key == ("Service", "ExecStart"):
            assert values == ["/usr/sbin/keepalived --dont-fork $DAEMON_ARGS"]
            assert ours[key] == ["/usr/local/bin/pykeepalived --dont-fork $DAEMON_ARGS"]
        elif key != ("Unit", "Description"):
            assert ours.get(key) == values, key
    assert ours[("Service", "Type")] == ["notify"]
    assert ours[("Unit", "Conflicts")] == ["keepalived.service"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze (apt-get install systemd)")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    exe = shutil.which("pykeepalived") or str(Path(sys.executable).with_name("pykeepalived"))
    assert Path(exe).exists(), "the venv's pykeepalived console script"
    unit = tmp_path / "pykeepalived.service"
    unit.write_text(UNIT.read_text().replace("/usr/local/bin/pykeepalived", exe))
    out = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60,
                         check=False)
    problems = [ln for ln in (out.stdout + out.stderr).splitlines() if "pykeepalived.service" in ln]
    assert out.returncode == 0 and problems == [], out.stdout + out.stderr
