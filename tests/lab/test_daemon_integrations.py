"""The VRRP process's companions on a running daemon: e-mail alerts on transitions delivered to a real SMTP
server (aiosmtpd in the daemon's namespace), sd_notify READY / RELOADING / STOPPING to a NOTIFY_SOCKET
listener (sd_notify(3)), and a real scrape of the opt-in Prometheus endpoint."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

_SMTP_SINK = """
import sys, time
from pathlib import Path
from aiosmtpd.controller import Controller
out = Path(sys.argv[1])
class Sink:
    async def handle_DATA(self, server, session, envelope):
        n = len(list(out.iterdir()))
        (out / f"{n:03d}.eml").write_bytes(envelope.content)
        return "250 OK"
c = Controller(Sink(), hostname="127.0.0.1", port=2525)
c.start()
(out / "ready").touch()
while True:
    time.sleep(1)
"""


def test_transitions_are_mailed_to_a_real_smtp_server(lab: Lab) -> None:
    out = lab.log_dir / "mail"
    out.mkdir()
    lab.exec("lb1", ["ip", "link", "set", "lo", "up"])
    lab.start("lb1", [sys.executable, "-c", _SMTP_SINK, str(out)], name="smtp")
    assert wait_until((out / "ready").exists, 10)
    (out / "ready").unlink()
    mail = ("  notification_email {\n    ops@example.org\n  }\n  notification_email_from lb1@example.org\n"
            "  smtp_server 127.0.0.1 2525\n  smtp_connect_timeout 5\n  smtp_alert\n")
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150), global_extra=mail)))
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"], timeout=10) == ["lb1"], lb1.log()

    def subjects() -> list[str]:
        return [line.split(":", 1)[1].strip() for f in sorted(out.glob("*.eml"))
                for line in f.read_text().splitlines() if line.startswith("Subject:")]

    want = ["[lab] VRRP Instance VI_1 - Entering BACKUP state", "[lab] VRRP Instance VI_1 - Entering MASTER state"]
    assert wait_until(lambda: subjects()[:2] == want, 10), (subjects(), lb1.log())
    assert lb1.stop() == 0
    assert wait_until(lambda: len(subjects()) == 3, 5), subjects()  # the STOP mail goes out before exit
    assert "VI_1" in subjects()[2]
    text = sorted(out.glob("*.eml"))[1].read_text()
    assert "To: ops@example.org" in text and "From: lb1@example.org" in text and "X-Mailer: Keepalived" in text


def test_sd_notify_ready_reloading_stopping(lab: Lab) -> None:
    path = Path(lab.log_dir / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(0.2)
    got: list[str] = []

    def drain() -> list[str]:
        while True:
            try:
                got.append(listener.recv(4096).decode())
            except TimeoutError:
                return got

    try:
        lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150)),
                                           env={"NOTIFY_SOCKET": str(path)}), wait=True)
        assert wait_until(lambda: any("READY=1" in m for m in drain()), 5), got
        assert any(f"MAINPID={lb1.pid}" in m for m in got), got
        lb1.reload()
        assert wait_until(lambda: any("RELOADING=1" in m for m in drain()), 5), got
        assert wait_until(lambda: sum("READY=1" in m for m in drain()) >= 2, 5), got
        assert lb1.stop() == 0
        assert wait_until(lambda: any("STOPPING=1" in m for m in drain()), 2), got
        order = [m.split("\n")[0] for m in got]
        assert order.index("RELOADING=1") > 0 and order[-1] == "STOPPING=1", order
    finally:
        listener.close()
        path.unlink(missing_ok=True)


@pytest.mark.parametrize("via", ["flag", "env"])
def test_metrics_endpoint_answers_a_real_scrape(lab: Lab, via: str) -> None:
    """Turned on by ``--metrics-listen`` (the watchdog hands it to the VRRP child) or by the environment."""
    lab.exec("lb1", ["ip", "link", "set", "lo", "up"])
    conf = keepalived_conf(instance_block(priority=150))
    spec = (DaemonSpec("lb1", conf, extra_args=("--metrics-listen=127.0.0.1:9650",)) if via == "flag"
            else DaemonSpec("lb1", conf, env={"PYKEEPALIVED_METRICS_LISTEN": "127.0.0.1:9650"}))
    lb1 = start_daemon(lab, spec)
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"], timeout=10) == ["lb1"], lb1.log()
    time.sleep(0.3)

    def scrape() -> str | None:
        r = lab.exec("lb1", ["curl", "-sf", "http://127.0.0.1:9650/metrics"], check=False)
        return r.stdout if r.returncode == 0 and "keepalived_vrrp_state" in r.stdout else None

    text = wait_until(scrape, 5)
    assert text is not None, lb1.log()
    assert "keepalived_up 1.0" in text
    state = [ln for ln in str(text).splitlines() if ln.startswith("keepalived_vrrp_state{")]
    assert state and 'iname="VI_1"' in state[0] and state[0].endswith(" 2.0"), state  # 2 = MASTER
    assert lb1.stop() == 0
    assert lab.exec("lb1", ["curl", "-sf", "http://127.0.0.1:9650/metrics"], check=False).returncode != 0
