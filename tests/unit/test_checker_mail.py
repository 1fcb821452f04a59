"""Checker e-mail alerts (``smtp_alert``, keepalived 2.2.7's check_tcp.c / ipwrapper.c): the checker process,
with real TCP checks on loopback and the IPVS oracle, mails a real SMTP server (aiosmtpd) that records what
arrives: a check going down ("=> TCP CHECK failed on service <="), the quorum lost, the real servers shutting
down at stop; not a first success (the check was already up). A silent SMTP server delays no check."""

from __future__ import annotations

import asyncio
import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

from ipvs.formats import format_list
from ipvs.memory import MemoryBackend
from netns_lab.servers import SmtpRecorder, closed_port, http_server, smtp_server, unanswered_port
from pykeepalived.config import HostView, load_config
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.daemon.checker_process import CheckerProcess
from pykeepalived.daemon.lvs import build_lvs
from pykeepalived.daemon.smtp_alert import CheckerMailer, SmtpAlerter, SmtpSettings

HOST = HostView(interfaces=frozenset(), find_executable=lambda c: c, user_exists=lambda u: False)


def config(tmp_path: Path, smtp_port: int, good: int, dead: int, extra: str = "") -> KeepalivedConfig:
    f = tmp_path / "keepalived.conf"
    f.write_text(f"""
global_defs {{
    router_id lvs1
    notification_email {{
        ops@example.org
    }}
    notification_email_from lvs@example.org
    smtp_server 127.0.0.1 {smtp_port}
    smtp_connect_timeout 2
{extra}
}}
virtual_server 10.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    delay_loop 1
    warmup 0
    quorum 2
    smtp_alert
    real_server 127.0.0.1 {good} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
    real_server 127.0.0.2 {dead} {{
        TCP_CHECK {{
            connect_timeout 1
        }}
    }}
}}
""")
    return load_config(str(f), config_id="main", host=HOST).config


def mailer(cfg: KeepalivedConfig) -> CheckerMailer:
    smtp = SmtpSettings.from_defs(cfg.global_defs)
    assert smtp is not None
    return CheckerMailer(SmtpAlerter(smtp))


async def run_until_dead_is_out(proc: CheckerProcess, backend: MemoryBackend, limit: float = 15.0) -> float:
    """Run ``proc`` until the dead server has left the table (seconds it took), then stop it."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    runner = asyncio.create_task(proc.run())
    async with asyncio.timeout(limit):
        while "127.0.0.2" in (t := format_list(await backend.list_services())) or "127.0.0.1" not in t:
            await asyncio.sleep(0.05)
    took = loop.time() - start
    proc.stop()
    await runner
    return took


def parsed(recorder: SmtpRecorder) -> list[EmailMessage]:
    out = []
    for env in recorder.envelopes:
        msg = email.message_from_bytes(env.content, _class=EmailMessage, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        out.append(msg)
    return out


def test_verdicts_quorum_and_shutdown_mail_with_keepalived_subjects(tmp_path: Path) -> None:
    recorder = SmtpRecorder()

    async def go() -> tuple[int, int]:
        async with http_server("127.0.0.1", {}) as good, smtp_server("127.0.0.1", recorder=recorder) as port:
            dead = closed_port("127.0.0.2")
            cfg = config(tmp_path, port, good, dead)
            backend = MemoryBackend()
            await run_until_dead_is_out(CheckerProcess(build_lvs(cfg), backend, mail=mailer(cfg)), backend)
            return good, dead

    good, dead = asyncio.run(go())
    mails = [(str(m["Subject"]), m.get_content().strip(), str(m["From"]), str(m["To"])) for m in parsed(recorder)]
    vs, rs_good, rs_dead = "[10.0.0.1]:tcp:80", f"[127.0.0.1]:tcp:{good}", f"[127.0.0.2]:tcp:{dead}"
    assert [(s, b) for s, b, _, _ in mails] == [  # keepalived's order: the quorum it changed, then the check
        (f"[lvs1] Virtualserver {vs} - DOWN", "=> Lost quorum 2+0=2 <= 1 <="),
        (f"[lvs1] Realserver {rs_dead} of virtual server {vs} - DOWN", "=> TCP CHECK failed on service <="),
        (f"[lvs1] Realserver {rs_good} of virtual server {vs} - DOWN", "=> Shutting down <="),
    ]  # the good server's first success is no mail: its check was up from the start
    assert {(f, t) for _, _, f, t in mails} == {("lvs@example.org", "ops@example.org")}


def test_a_real_server_mails_by_default_and_smtp_alert_off_silences_it(tmp_path: Path) -> None:
    """keepalived: a real server's smtp_alert defaults to on (check_data.c), a virtual server's to off;
    smtp_alert_checker off silences the real servers, not a virtual server's own smtp_alert."""
    recorder = SmtpRecorder()

    async def go() -> None:
        async with http_server("127.0.0.1", {}) as good, smtp_server("127.0.0.1", recorder=recorder) as port:
            dead = closed_port("127.0.0.2")
            cfg = config(tmp_path, port, good, dead)
            text = (tmp_path / "keepalived.conf").read_text().replace("    smtp_alert\n", "")
            (tmp_path / "keepalived.conf").write_text(text)
            cfg = load_config(str(tmp_path / "keepalived.conf"), config_id="main", host=HOST).config
            backend = MemoryBackend()
            await run_until_dead_is_out(CheckerProcess(build_lvs(cfg), backend, mail=mailer(cfg)), backend)
            quiet = config(tmp_path, port, good, dead, extra="    smtp_alert_checker false")
            backend = MemoryBackend()
            await run_until_dead_is_out(CheckerProcess(build_lvs(quiet), backend, mail=mailer(quiet)), backend)

    asyncio.run(go())
    subjects = [str(m["Subject"]).split(" ")[1] for m in parsed(recorder)]
    assert subjects == ["Realserver", "Realserver", "Virtualserver"]  # 1st run: down, shut; 2nd: the quorum


def test_a_silent_smtp_server_delays_no_check(tmp_path: Path) -> None:
    async def go() -> float:
        async with http_server("127.0.0.1", {}) as good, unanswered_port("127.0.0.1") as port:
            cfg = config(tmp_path, port, good, closed_port("127.0.0.2"))
            backend = MemoryBackend()
            return await run_until_dead_is_out(CheckerProcess(build_lvs(cfg), backend, mail=mailer(cfg)), backend)

    took = asyncio.run(go())
    assert took < 5.0  # bootstrap 1 s + one failed connect; the mail's 2 s connect timeout is not waited for
