"""E-mail alerts: keepalived's subjects and bodies, delivered to a real SMTP server (aiosmtpd on 127.0.0.1) that
records what arrives; a dead or silent server never blocks the caller."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage

import pytest
from aiosmtpd.smtp import Envelope

from ipvs.model import DestKey, ServiceKey
from netns_lab.servers import SmtpRecorder
from netns_lab.servers import smtp_server as recording_server
from pykeepalived.config.model import GlobalDefs
from pykeepalived.daemon.smtp_alert import (
    SmtpAlerter,
    SmtpSettings,
    TransitionMailer,
    VrrpEvent,
    fmt_rs,
    fmt_vs,
    group_alert,
    instance_alert,
    real_server_alert,
    real_server_removed_alert,
    render,
    virtual_server_alert,
)
from vrrp.core.state import State

Recorder = SmtpRecorder


@asynccontextmanager
async def smtp_server() -> AsyncIterator[tuple[int, Recorder]]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it is given."""
    recorder = SmtpRecorder()
    async with recording_server("127.0.0.1", "test.invalid", recorder) as port:
        yield port, recorder


def _defs(port: int, **kw: object) -> GlobalDefs:
    base: dict[str, object] = {
        "router_id": "lb1", "notification_email": ("admin@example.com", "ops@example.com"),
        "notification_email_from": "keepalived@example.com", "smtp_server": "127.0.0.1", "smtp_port": port,
        "smtp_helo_name": "lb1.example.com", "smtp_connect_timeout": 5,
    }
    base.update(kw)
    return GlobalDefs(**base)  # type: ignore[arg-type]


def _settings(port: int, **kw: object) -> SmtpSettings:
    s = SmtpSettings.from_defs(_defs(port, **kw))
    assert s is not None
    return s


def _parsed(env: Envelope) -> EmailMessage:
    assert isinstance(env.content, bytes)
    msg = email.message_from_bytes(env.content, _class=EmailMessage, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_vrrp_transition_mails_arrive_with_keepalived_subjects_and_headers() -> None:
    async def scenario() -> tuple[Recorder, SmtpAlerter]:
        async with smtp_server() as (port, recorder):
            alerter = SmtpAlerter(_settings(port))
            alerter.start()
            assert alerter.submit(instance_alert("lb1", "VI_1", VrrpEvent.MASTER))
            assert alerter.submit(group_alert("lb1", "G1", VrrpEvent.BACKUP))
            await asyncio.wait_for(alerter.drain(), 30)
            await alerter.aclose()
            return recorder, alerter

    recorder, alerter = asyncio.run(scenario())
    assert (alerter.sent, alerter.failed, alerter.dropped) == (2, 0, 0)
    first, second = (_parsed(e) for e in recorder.envelopes)
    assert first["Subject"] == "[lb1] VRRP Instance VI_1 - Entering MASTER state"
    assert first.get_content().strip() == "=> VRRP Instance is now owning VRRP VIPs <="
    assert second["Subject"] == "[lb1] VRRP Group G1 - Entering BACKUP state"
    assert second.get_content().strip() == "=> All VRRP group instances are now in BACKUP state <="
    assert first["From"] == "keepalived@example.com"
    assert first["To"] == "admin@example.com, ops@example.com"
    assert first["X-Mailer"] == "Keepalived"
    assert first["Date"]
    env = recorder.envelopes[0]
    assert env.mail_from == "keepalived@example.com"
    assert env.rcpt_tos == ["admin@example.com", "ops@example.com"]
    assert recorder.helos[0] == "lb1.example.com"


def test_checker_verdict_mails() -> None:
    svc = ServiceKey.inet(6, "192.0.2.10", 80)
    rs = DestKey.of("192.0.2.21", 8080)
    down = real_server_alert("lb1", fmt_rs(rs, svc), fmt_vs(svc), "TCP_CHECK", up=False)

    async def scenario() -> Recorder:
        async with smtp_server() as (port, recorder):
            alerter = SmtpAlerter(_settings(port))
            alerter.start()
            alerter.submit(down)
            await asyncio.wait_for(alerter.drain(), 30)
            await alerter.aclose()
            return recorder

    env = asyncio.run(scenario()).envelopes[0]
    msg = _parsed(env)
    assert msg["Subject"] == "[lb1] Realserver [192.0.2.21]:tcp:8080 of virtual server [192.0.2.10]:tcp:80 - DOWN"
    # one header line, as keepalived writes it (no folding of the long subject)
    assert isinstance(env.content, bytes) and f"Subject: {msg['Subject']}\r\n".encode() in env.content
    assert msg.get_content().strip() == "=> TCP CHECK failed on service <="


def test_texts_are_keepalived_words() -> None:
    svc = ServiceKey.inet(17, "2001:db8::10", 53)
    assert fmt_vs(svc) == "[2001:db8::10]:udp:53"
    assert fmt_vs(ServiceKey.mark(7)) == "FWM 7"
    assert fmt_vs(svc, group="web") == "[web]:53"
    up = real_server_alert("r", "[a]:tcp:1", "[v]:tcp:1", "HTTP_GET", up=True)
    assert (up.subject, up.body) == ("[r] Realserver [a]:tcp:1 of virtual server [v]:tcp:1 - UP",
                                     "=> CHECK succeed on service <=")
    assert real_server_alert("r", "a", "v", "HTTP_GET", up=False).body == \
        "=> CHECK failed on service : HTTP request failed <="
    assert real_server_removed_alert("r", "a", "v", stopping=True).body == "=> Shutting down <="
    vs = virtual_server_alert("r", "[v]:tcp:80", up=False, init=False, quorum=2, hysteresis=0, threshold=2,
                              weight_sum=1)
    assert (vs.subject, vs.body) == ("[r] Virtualserver [v]:tcp:80 - DOWN", "=> Lost quorum 2+0=2 <= 1 <=")
    assert instance_alert("r", "VI", VrrpEvent.DELETED).subject == "[r] VRRP Instance VI - Deleted"
    assert instance_alert("r", "VI", VrrpEvent.FAULT).body == "=> VRRP Instance is no longer owning VRRP VIPs <="
    with pytest.raises(ValueError, match="DELETED"):
        group_alert("r", "G", VrrpEvent.DELETED)


def test_settings_resolve_keepalived_defaults_and_precedence() -> None:
    assert SmtpSettings.from_defs(GlobalDefs()) is None
    assert SmtpSettings.from_defs(GlobalDefs(smtp_server="127.0.0.1")) is None  # no recipient: no mail
    s = SmtpSettings.from_defs(GlobalDefs(smtp_server="127.0.0.1", notification_email=("a@b",)), hostname="node7")
    assert s is not None
    assert (s.router_id, s.helo_name, s.port, s.connect_timeout) == ("node7", "node7", 25, 30.0)
    assert s.email_from.endswith("@node7")
    assert not s.vrrp_enabled(None) and not s.checker_enabled(None)
    s = _settings(25, smtp_alert=True, smtp_alert_checker=False)
    assert s.vrrp_enabled(None) and not s.checker_enabled(None) and s.checker_enabled(True)
    s = _settings(25, smtp_alert=False, smtp_alert_vrrp=True)
    assert s.vrrp_enabled(None) and not s.vrrp_enabled(False) and not s.checker_enabled(None)


def test_render_has_keepalived_header_order() -> None:
    msg = render(instance_alert("lb1", "VI_1", VrrpEvent.STOP), _settings(25), now=0.0)
    assert [k for k, _ in msg.items()][:5] == ["Date", "From", "Subject", "X-Mailer", "To"]
    assert msg.get_content().strip() == "=> VRRP Instance stopping <="


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dead_server_is_logged_and_never_blocks(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> SmtpAlerter:
        alerter = SmtpAlerter(_settings(_closed_port()))
        alerter.start()
        assert alerter.submit(instance_alert("lb1", "VI_1", VrrpEvent.MASTER))
        await asyncio.wait_for(alerter.drain(), 30)
        await alerter.aclose()
        return alerter

    with caplog.at_level(logging.INFO, logger="pykeepalived.smtp"):
        alerter = asyncio.run(scenario())
    assert (alerter.sent, alerter.failed) == (0, 1)
    assert "SMTP connection ERROR to [127.0.0.1]:" in caplog.text


def test_silent_server_times_out_after_smtp_connect_timeout(caplog: pytest.LogCaptureFixture) -> None:
    """A server that accepts and never greets: the send gives up after smtp_connect_timeout; meanwhile submit
    keeps returning at once and the queue bound drops the overflow."""
    async def scenario() -> tuple[SmtpAlerter, list[bool]]:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # never answers; returns when the client hangs up
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        alerter = SmtpAlerter(_settings(port, smtp_connect_timeout=1), max_queued=2)
        alerter.start()
        accepted = [alerter.submit(instance_alert("lb1", f"VI_{n}", VrrpEvent.MASTER)) for n in range(4)]
        await asyncio.wait_for(alerter.drain(), 60)
        await alerter.aclose()
        server.close()
        await server.wait_closed()
        return alerter, accepted

    with caplog.at_level(logging.INFO, logger="pykeepalived.smtp"):
        alerter, accepted = asyncio.run(scenario())
    assert accepted == [True, True, False, False]
    assert (alerter.sent, alerter.failed, alerter.dropped) == (0, 2, 2)
    assert "Timeout connecting SMTP server [127.0.0.1]:" in caplog.text


def test_transition_mailer_mails_once_per_state_change_where_enabled() -> None:
    async def scenario() -> list[str]:
        subjects: list[str] = []

        async def record(msg: EmailMessage, _: SmtpSettings) -> None:
            subjects.append(str(msg["Subject"]))

        alerter = SmtpAlerter(_settings(25, smtp_alert_vrrp=True), sender=record)
        alerter.start()
        mailer = TransitionMailer(alerter)
        assert mailer.instance("VI_1", State.BACKUP)
        assert not mailer.instance("VI_1", State.BACKUP)  # same state again: no second mail
        assert mailer.instance("VI_1", State.MASTER)
        assert not mailer.instance("VI_2", State.MASTER, smtp_alert=False)  # the instance's own keyword wins
        assert mailer.group("G1", State.MASTER)
        assert not mailer.group("G1", VrrpEvent.DELETED)
        assert mailer.instance("VI_1", State.INIT)
        assert mailer.instance("VI_1", VrrpEvent.DELETED)
        await asyncio.wait_for(alerter.drain(), 30)
        await alerter.aclose()
        return subjects

    assert asyncio.run(scenario()) == [
        "[lb1] VRRP Instance VI_1 - Entering BACKUP state",
        "[lb1] VRRP Instance VI_1 - Entering MASTER state",
        "[lb1] VRRP Group G1 - Entering MASTER state",
        "[lb1] VRRP Instance VI_1 - Stopping",
        "[lb1] VRRP Instance VI_1 - Deleted",
    ]


def test_transition_mailer_is_silent_when_vrrp_alerts_are_off() -> None:
    async def scenario() -> bool:
        alerter = SmtpAlerter(_settings(25, smtp_alert=True, smtp_alert_vrrp=False))
        return TransitionMailer(alerter).instance("VI_1", State.MASTER) or \
            TransitionMailer(alerter).instance("VI_1", State.MASTER, smtp_alert=None)

    assert asyncio.run(scenario()) is False
