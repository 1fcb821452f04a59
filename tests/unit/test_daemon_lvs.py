"""keepalived.conf virtual servers -> check specs, pool and IPVS table; checker verdicts converge a
MemoryBackend (the oracle) through ipvs.sync with the minimal writes, printed as ipvsadm -Ln prints them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from checkers.core.machine import Verdict, WeightChanged
from checkers.core.pool import Pool, PoolAction, TableChanged
from checkers.core.spec import DnsProbe, FileProbe, HttpProbe, MiscProbe, SmtpProbe, Target, TcpProbe, UdpProbe
from ipvs.formats import format_list
from ipvs.memory import MemoryBackend
from ipvs.model import F_ONEPACKET, F_PERSISTENT, F_SCHED2, Forward, ServiceKey
from ipvs.sync import SyncEngine
from pykeepalived.config import HostView, Severity, load_config
from pykeepalived.daemon.lvs import LvsSettings, LvsSettingsError, build_lvs
from vrrp.io.scripts import ScriptUser

HOST = HostView(interfaces=frozenset({"eth0"}), find_executable=lambda c: "/bin/" + c, user_exists=lambda u: True)


def runs_anywhere(argv: Sequence[str], user: ScriptUser | None, security: bool) -> None:
    """The scripts' host of these tests, as HOST: every script exists and may run (none is disabled)."""
    return None

#: check keys: the virtual server's identity, the real server's [ip]:proto:port, the check's place
WEB1 = "[10.0.0.1]:tcp:80|[10.0.1.1]:tcp:80/c0"
WEB2 = "[10.0.0.1]:tcp:80|[10.0.1.2]:tcp:80/c0"

CONF = """
virtual_server 10.0.0.1 80 {
    delay_loop 6
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum 1
    sorry_server 10.0.9.9 8080
    real_server 10.0.1.1 80 {
        weight 3
        TCP_CHECK {
            connect_timeout 2
            retry 2
            delay_before_retry 1
        }
    }
    real_server 10.0.1.2 80 {
        inhibit_on_failure
        HTTP_GET {
            url {
                path /health
                digest 0123456789abcdef0123456789abcdef
                status_code 200-299 404
            }
            url {
                path /x
                regex "ok"
                regex_no_match
            }
            virtualhost www.example
        }
    }
}
virtual_server fwmark 7 {
    lb_kind NAT
    lvs_sched sh
    sh-port
    persistence_timeout 600
    persistence_granularity 255.255.255.0
    real_server 10.0.2.1 0 {
        MISC_CHECK {
            misc_path "/usr/local/bin/check --host 10.0.2.1"
            misc_dynamic
            misc_timeout 3
        }
        SMTP_CHECK {
            helo_name lb.example
            connect_port 25
        }
    }
}
virtual_server_group web {
    10.0.3.1-3 443
}
virtual_server group web {
    lb_algo wlc
    protocol UDP
    ops
    lb_kind DR
    real_server 10.0.4.1 443 {
        DNS_CHECK {
            type A
            name www.example
        }
        UDP_CHECK {
            payload 0102
            require_reply 01XX
        }
    }
}
"""


def load(tmp_path: Path, text: str) -> LvsSettings:
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    res = load_config(str(f), config_id="main", host=HOST)
    assert not [d for d in res.diagnostics if d.severity >= Severity.ERROR], res.diagnostics
    return build_lvs(res.config, refusal=runs_anywhere)


def sync(settings: LvsSettings, pool: Pool, backend: MemoryBackend, engine: SyncEngine,
         actions: list[PoolAction] | None = None) -> int:
    """Sync what changed (everything when ``actions`` is None); returns the number of writes."""
    async def go() -> int:
        if actions is None:
            return (await engine.sync(settings.desired(pool), 0.0)).writes
        changed = {a.vs_key for a in actions if isinstance(a, TableChanged)}
        if not changed:
            return 0
        res = await engine.sync_changed(settings.desired(pool, changed), settings.service_keys(changed), 0.0)
        assert res.ok
        return res.writes
    return asyncio.run(go())


def table(backend: MemoryBackend) -> str:
    return format_list(asyncio.run(backend.list_services()))


def test_checks_are_mapped_with_inherited_timings_and_targets(tmp_path: Path) -> None:
    s = load(tmp_path, CONF)
    by_key = {c.key: c for c in s.checks}
    tcp = by_key[WEB1]
    assert (tcp.kind, tcp.probe, tcp.target) == ("TCP_CHECK", TcpProbe(), Target("10.0.1.1", 80))
    assert (tcp.timing.delay_loop, tcp.timing.connect_timeout, tcp.timing.retry, tcp.timing.delay_before_retry) == (
        6, 2, 2, 1)
    assert tcp.name == "[10.0.1.1]:tcp:80"
    http = by_key[WEB2].probe
    assert isinstance(http, HttpProbe) and http.virtualhost == "www.example" and http.tls is None
    assert [(u.path, u.status_codes, u.regex_no_match) for u in http.urls] == [
        ("/health", ((200, 299), (404, 404)), False), ("/x", ((200, 299),), True)]
    assert by_key[WEB2].timing.delay_before_retry == 3  # HTTP's own default
    misc = by_key["FWM 7 IPv4|[10.0.2.1]:tcp:0/c0"].probe
    assert isinstance(misc, MiscProbe)
    assert misc == MiscProbe(("/usr/local/bin/check", "--host", "10.0.2.1"), 3.0, True, misc.user, misc.group)
    assert by_key["FWM 7 IPv4|[10.0.2.1]:tcp:0/c0"].timing.retry == 0  # MISC's default
    assert by_key["FWM 7 IPv4|[10.0.2.1]:tcp:0/c1"].probe == SmtpProbe("lb.example")
    assert by_key["FWM 7 IPv4|[10.0.2.1]:tcp:0/c1"].target == Target("10.0.2.1", 25)
    dns = by_key["[web]:0:udp|[10.0.4.1]:udp:443/c0"]
    assert dns.probe == DnsProbe("A", "www.example") and dns.timing.retry == 3
    assert by_key["[web]:0:udp|[10.0.4.1]:udp:443/c1"].probe == UdpProbe(b"\x01\x02", True, b"\x01\x00", b"\x00\xff")


def test_services_carry_scheduler_flags_persistence_and_groups(tmp_path: Path) -> None:
    s = load(tmp_path, CONF)
    (web,) = s.services["[10.0.0.1]:tcp:80"]
    assert (web.key, web.scheduler, web.flags) == (ServiceKey.inet(6, "10.0.0.1", 80), "rr", 0)
    (fw,) = s.services["FWM 7 IPv4"]
    assert fw.key == ServiceKey.mark(7) and fw.flags == F_PERSISTENT | F_SCHED2 and fw.timeout == 600
    assert fw.netmask == 0xFFFFFF00
    group = s.services["[web]:0:udp"]
    assert [g.key for g in group] == [ServiceKey.inet(17, f"10.0.3.{i}", 443) for i in (1, 2, 3)]
    assert all(g.flags == F_ONEPACKET for g in group)
    assert s.dests[("[web]:0:udp", "[web]:0:udp|[10.0.4.1]:udp:443")].forward is Forward.DR


def test_verdicts_converge_the_ipvs_table_with_minimal_writes(tmp_path: Path) -> None:
    s = load(tmp_path, CONF)
    pool = s.new_pool()
    backend = MemoryBackend()
    engine = SyncEngine(backend)
    pool.start()
    assert sync(s, pool, backend, engine) == 5 + 2 + 1 + 3  # 5 services (3 from the group), 6 destinations
    assert "  -> 10.0.1.1:80                  Masq    3      0          0" in table(backend)

    out = pool.on_check(Verdict(WEB1, False))
    assert sync(s, pool, backend, engine, out) == 1  # one delete
    listing = table(backend)
    assert "10.0.1.1:80" not in listing and "10.0.1.2:80" in listing

    out = pool.on_check(Verdict(WEB2, False))  # the last one: inhibited to 0, sorry server in
    assert sync(s, pool, backend, engine, out) == 2  # edit weight 0, add sorry
    listing = table(backend)
    assert "  -> 10.0.1.2:80                  Masq    0      0          0" in listing
    assert "  -> 10.0.9.9:8080                Masq    1      0          0" in listing

    out = pool.on_check(Verdict(WEB1, True))
    assert sync(s, pool, backend, engine, out) == 2  # sorry out, rs0 back
    listing = table(backend)
    assert "10.0.9.9" not in listing and "  -> 10.0.1.1:80                  Masq    3" in listing

    out = pool.on_check(WeightChanged("FWM 7 IPv4|[10.0.2.1]:tcp:0/c0", 7))  # misc_dynamic exit 9
    assert sync(s, pool, backend, engine, out) == 1
    assert "  -> 10.0.2.1:0                   Masq    7" in table(backend)
    assert sync(s, pool, backend, engine) == 0  # converged: a full sync writes nothing


def test_a_sorry_server_that_is_also_a_real_server_is_one_destination(tmp_path: Path) -> None:
    s = load(tmp_path, CONF.replace("sorry_server 10.0.9.9 8080", "sorry_server 10.0.1.2 80"))
    pool = s.new_pool()
    pool.start()
    backend = MemoryBackend()
    engine = SyncEngine(backend)
    sync(s, pool, backend, engine)
    out = pool.on_check(Verdict(WEB1, False)) + pool.on_check(Verdict(WEB2, False))
    sync(s, pool, backend, engine, out)
    web = [line.rstrip() for line in table(backend).splitlines() if "-> 10.0.1." in line]
    assert web == ["  -> 10.0.1.2:80                  Masq    1      0          0"]


def test_services_we_do_not_own_are_left_alone(tmp_path: Path) -> None:
    from ipvs.model import Service
    s = load(tmp_path, CONF)
    pool = s.new_pool()
    pool.start()
    backend = MemoryBackend()
    foreign = ServiceKey.inet(6, "192.0.2.50", 22)
    asyncio.run(backend.add_service(Service(foreign, "wlc")))
    sync(s, pool, backend, SyncEngine(backend))
    assert "192.0.2.50:22" in table(backend)


def test_ha_suspend_enables_checks_only_where_the_vip_is(tmp_path: Path) -> None:
    s = load(tmp_path, CONF.replace("    quorum 1\n", "    quorum 1\n    ha_suspend\n"))
    assert s.check_enabled(["10.0.0.1"]) == {WEB1: True, WEB2: True}
    assert s.check_enabled(["10.0.0.2"]) == {WEB1: False, WEB2: False}


def test_scripts_run_as_the_configured_user(tmp_path: Path) -> None:
    s = load(tmp_path, CONF.replace("    quorum 1\n", "    quorum 1\n    quorum_up \"/bin/qup now\" nobody\n"))
    assert s.pool[0].quorum_up is not None and s.pool[0].quorum_up.argv == ("/bin/qup", "now")
    assert s.pool[0].quorum_up.user == 65534


def test_ssl_block_and_sni_reach_the_probe(tmp_path: Path) -> None:
    s = load(tmp_path, """
SSL { ca /etc/ssl/ca.pem }
virtual_server 10.0.0.1 443 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 443 {
        SSL_GET {
            url { path / }
            enable_sni
            sni_name rs.example
        }
    }
}""")
    probe = s.checks[0].probe
    assert isinstance(probe, HttpProbe) and probe.tls is not None
    assert (probe.tls.ca, probe.tls.enable_sni, probe.tls.sni_name) == ("/etc/ssl/ca.pem", True, "rs.example")


def test_file_check_uses_the_track_file(tmp_path: Path) -> None:
    s = load(tmp_path, """
track_file tf {
    file /run/weight
    weight 3
}
virtual_server 10.0.0.1 80 {
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.0.1.1 80 { FILE_CHECK { track_file tf } }
}""")
    assert s.checks[0].probe == FileProbe("/run/weight", 3, False)
    assert s.checks[0].timing.retry == 0 and not s.checks[0].timing.alpha


@pytest.mark.parametrize(("block", "line", "message"), [
    ("HTTP_GET { url { path / } bind_port 4000 }", 3, "bind_port is not supported"),
    ("FILE_CHECK { track_file nope }", 3, "FILE_CHECK: track_file 'nope' is not defined"),
    ("HTTP_GET {\n url {\n path /\n regex x\n regex_options caseless\n }\n }", 4,
     "url: 'regex_options' is not supported"),
    ("BFD_CHECK {\n name b1\n }", 3, "BFD_CHECK is not supported"),
])
def test_what_we_cannot_honour_is_refused_naming_the_line(tmp_path: Path, block: str, line: int,
                                                          message: str) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text(f"virtual_server 10.0.0.1 80 {{\n  real_server 10.0.1.1 80 {{\n    {block}\n  }}\n"
                 "  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n}\n")
    res = load_config(str(f), config_id="main", host=HOST)
    with pytest.raises(LvsSettingsError, match=rf"^{f}:{line}: .*{message}"):
        build_lvs(res.config)


def _secure_conf(script: Path, *, security: bool) -> str:
    return (("global_defs {\n    enable_script_security\n    script_user root\n}\n" if security else "") + f"""
virtual_server 10.0.0.1 80 {{
    lb_algo rr
    lb_kind NAT
    protocol TCP
    quorum_up "{script} quorum"
    real_server 10.0.1.1 80 {{
        notify_up "{script} up"
        MISC_CHECK {{
            misc_path "{script} check"
        }}
        TCP_CHECK {{
            connect_port 80
        }}
    }}
}}
""")


@pytest.mark.parametrize("case", ["world-writable", "missing"])
def test_a_script_keepalived_disables_is_never_run(tmp_path: Path, case: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    """keepalived's check_misc_script_security and check_notify_script_secure, on this host (the check ``-t``
    reports and the VRRP process applies): a MISC_CHECK whose script is disabled is dropped (keepalived frees
    the checker; the real server keeps its other checks), a disabled notify or quorum script is not run.
    World-writable under script security, or not there at all (with or without it)."""
    script = tmp_path / "check.sh"
    if case == "world-writable":
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o777)  # anyone may rewrite what root would run
    f = tmp_path / "keepalived.conf"
    f.write_text(_secure_conf(script, security=case == "world-writable"))
    s = build_lvs(load_config(str(f), config_id="main").config)
    assert [c.kind for c in s.checks] == ["TCP_CHECK"], s.checks
    assert s.pool[0].real_servers[0].notify_up is None and s.pool[0].quorum_up is None
    assert [c.key for c in s.checks] == ["[10.0.0.1]:tcp:80|[10.0.1.1]:tcp:80/c1"]  # the other check's key stays
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 3 and all(m.endswith(" - disabling") for m in errors), errors
    assert any("MISC_CHECK misc_path" in m and f"{f}:" in m for m in errors), errors  # file:line, what


def test_a_safe_script_keeps_its_check(tmp_path: Path) -> None:
    """The positive side: a script only root can change runs (pytest's tmp_path is root's, mode 0700)."""
    script = tmp_path / "check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    f = tmp_path / "keepalived.conf"
    f.write_text(_secure_conf(script, security=True))
    s = build_lvs(load_config(str(f), config_id="main").config)
    assert [c.kind for c in s.checks] == ["MISC_CHECK", "TCP_CHECK"]
    probe = s.checks[0].probe
    assert isinstance(probe, MiscProbe) and probe.argv == (str(script), "check")
    assert s.pool[0].real_servers[0].notify_up is not None and s.pool[0].quorum_up is not None
