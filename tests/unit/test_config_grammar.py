"""Grammar and model: one test per construct, defaults, ranges, inheritance, old names, verdicts."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykeepalived.config import HostView, Severity, load_config
from pykeepalived.config.errors import exit_status

CONFIGS = Path(__file__).parent / "configs"
EXES = {"killall": "/usr/bin/killall", "/bin/true": "/bin/true"}
HOST = HostView(interfaces=frozenset({"eth0", "eth1"}), find_executable=EXES.get,
                user_exists=lambda u: False)


def load_text(tmp_path: Path, text: str, host: HostView = HOST):  # type: ignore[no-untyped-def]
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    return load_config(str(f), config_id="main", host=host)


def msgs(r, sev: Severity = Severity.WARNING) -> list[tuple[int, str]]:  # type: ignore[no-untyped-def]
    return [(d.location.line, d.message) for d in r.diagnostics if d.severity >= sev]


def test_unicast_peer_instance_and_script() -> None:
    r = load_config(str(CONFIGS / "unicast.conf"), host=HOST)
    assert r.exit_status == 0, r.diagnostics
    (i,) = r.config.vrrp_instances
    assert (i.state, i.interface, i.virtual_router_id, i.priority, i.advert_int) == ("MASTER", "eth0", 51, 150, 1.0)
    assert i.unicast_src_ip == "192.0.2.1"
    assert [(p.address, p.min_ttl, p.max_ttl) for p in i.unicast_peer] == [
        ("192.0.2.2", None, None), ("192.0.2.3", 250, 255)]
    assert (i.auth_type, i.auth_pass) == ("PASS", "secret12")  # only 8 characters are used
    vip = i.virtual_ipaddress[0]
    assert (vip.address, vip.prefixlen, vip.dev, vip.label) == ("192.0.2.100", 24, "eth0", "eth0:vip")
    assert i.track_script[0].name == "chk_haproxy" and i.track_script[0].location.line == 33
    (s,) = r.config.vrrp_scripts
    assert s.script is not None and s.script.argv == ("killall", "-0", "haproxy")
    assert (s.interval, s.timeout, s.weight, s.fall, s.rise) == (2.0, 2.0, -20, 2, 3)
    # instance defaults resolved from global_defs / keepalived
    assert (i.version, i.garp_master_delay, i.garp_master_repeat, i.accept, i.nopreempt) == (2, 5.0, 5, True, False)


def test_lvs_sched_method_and_checker_inheritance() -> None:
    r = load_config(str(CONFIGS / "lvs.conf"), host=HOST)
    # the only problem keepalived 2.2.7 reports here is the old name nb_get_retry (exit 5)
    assert msgs(r) == [(38, "nb_get_retry is deprecated - please use 'retry'")]
    assert r.exit_status == 5
    vs, vs2 = r.config.virtual_servers
    assert (vs.lvs_sched, vs.sched_flags, vs.lvs_method, vs.tunnel_type) == ("sh", ("sh-port",), "TUN",
                                                                             "gue port 6080 nocsum")
    assert vs.persistence_timeout == 360  # bare keyword
    rs1, rs2 = vs.real_servers
    assert (rs1.weight, rs1.lvs_method, rs2.lvs_method, rs2.weight) == (3, "TUN", "DR", 1)
    tcp, dns = rs1.checkers
    # VS -> RS -> checker inheritance
    assert (tcp.kind, tcp.connect_timeout, tcp.retry, tcp.delay_before_retry, tcp.delay_loop) == (
        "TCP_CHECK", 7.0, 4, 2.0, 10.0)
    assert (dns.dns_type, dns.dns_name, dns.retry) == ("A", "example.org", 4)
    (http,) = rs2.checkers
    assert http.delay_loop == 5.0 and http.delay_before_retry == 3.0  # HTTP default 3 s
    assert http.urls[0].status_codes == ((200, 299), (301, 301))
    # old names lb_algo / lb_kind / nb_get_retry
    assert (vs2.lvs_sched, vs2.lvs_method, vs2.protocol) == ("wrr", "NAT", "UDP")
    assert vs2.real_servers[0].checkers[0].retry == 7
    assert vs.name == "[198.51.100.10]:tcp:443"


def test_dns_check_defaults(tmp_path: Path) -> None:
    r = load_text(tmp_path, "virtual_server 10.0.0.1 53 {\n lvs_sched rr\n lvs_method NAT\n protocol UDP\n"
                  " delay_loop 30\n real_server 10.0.0.2 53 {\n  DNS_CHECK {\n  }\n }\n}\n")
    (ck,) = r.config.virtual_servers[0].real_servers[0].checkers
    assert (ck.dns_type, ck.dns_name, ck.retry, ck.delay_before_retry) == ("SOA", ".", 3, 30.0)
    assert r.exit_status == 0


def test_track_file_track_process_file_check() -> None:
    r = load_config(str(CONFIGS / "trackers.conf"), host=HOST)
    # FILE_CHECK `dynamic` is newer than keepalived 2.2.7: kept, but reported like 2.2.7 does (exit 5)
    assert [m for _, m in msgs(r)] == [
        "Unknown keyword 'dynamic' for keepalived 2.2.7 (newer or misplaced keyword) - kept"]
    assert r.exit_status == 5
    tf, legacy = r.config.track_files
    assert (tf.name, tf.file, tf.weight, tf.weight_reverse, tf.init_file, tf.init_overwrite) == (
        "maint", "/run/maint-state", -10, True, True, True)
    assert legacy.name == "legacy" and legacy.weight == 1  # vrrp_track_file is the old name
    (tp,) = r.config.track_processes
    assert (tp.process, tp.args, tp.param_match, tp.weight, tp.quorum, tp.fork_delay) == (
        "haproxy", ("-f", "/etc/haproxy.cfg"), "initial", 20, 2, 0.5)
    i = r.config.vrrp_instances[0]
    assert i.track_file[0].weight == 5 and i.track_process[0].name == "haproxy"
    vs = r.config.virtual_servers[0]
    assert vs.fwmark == 9 and vs.name == "FWM 9" and vs.real_servers[0].port == 0
    (fc,) = vs.real_servers[0].checkers
    assert (fc.kind, fc.track_file, fc.weight, fc.weight_reverse, fc.dynamic) == ("FILE_CHECK", "maint", 2, True, True)


def test_unknown_keyword_is_a_warning_with_location_and_parsing_continues(tmp_path: Path) -> None:
    r = load_text(tmp_path, "global_defs {\n  bogus_kw 1\n  router_id r1\n  weird { a b }\n}\n")
    assert msgs(r) == [(2, "Unknown keyword 'bogus_kw'"), (4, "Unknown keyword 'weird'")]
    assert r.config.global_defs.router_id == "r1"
    assert r.exit_status == 5  # keepalived 2.2.7 -t: errors but it would run


@pytest.mark.parametrize(("line", "expect"), [
    ("virtual_router_id 300", "outside range [1, 255]"),
    ("priority 0", "Priority not valid"),
    ("advert_int abc", "expected a number of seconds"),
    ("state FOO", "expected MASTER|BACKUP"),
    ("preempt_delay 2000", "outside range [0, 1000]"),
])
def test_invalid_values_name_line_and_expectation(tmp_path: Path, line: str, expect: str) -> None:
    r = load_text(tmp_path, f"vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 5\n {line}\n}}\n")
    hits = [(ln, m) for ln, m in msgs(r, Severity.ERROR) if expect in m]
    assert hits and hits[0][0] == 4, r.diagnostics
    assert r.exit_status == 5


def test_defaults_reported_like_keepalived(tmp_path: Path) -> None:
    r = load_text(tmp_path, "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\n")
    vs = r.config.virtual_servers[0]
    assert (vs.protocol, vs.lvs_sched, vs.lvs_method, vs.delay_loop, vs.quorum) == ("UDP", "wlc", "NAT", 60.0, 1)
    assert len(msgs(r, Severity.ERROR)) == 3


def test_vrrpv2_fractional_advert_is_rounded(tmp_path: Path) -> None:
    r = load_text(tmp_path, "vrrp_instance V {\n interface eth0\n virtual_router_id 5\n advert_int 1.5\n"
                  " virtual_ipaddress {\n  10.0.0.1\n }\n}\n")
    assert r.config.vrrp_instances[0].advert_int == 2.0
    assert msgs(r, Severity.ERROR)[0][0] == 4


def test_sync_group_and_strict_mode(tmp_path: Path) -> None:
    r = load_text(tmp_path, "global_defs { vrrp_strict }\nvrrp_sync_group G {\n group {\n  A\n  B\n }\n}\n"
                  "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"
                  "vrrp_instance B {\n interface eth1\n virtual_router_id 1\n accept\n"
                  " virtual_ipaddress {\n 10.0.0.2\n }\n}\n")
    assert r.exit_status == 0, r.diagnostics
    assert r.config.sync_groups[0].group == ("A", "B")
    a, b = r.config.vrrp_instances
    assert (a.strict_mode, a.accept, b.accept) == (True, False, True)


def test_virtual_server_group_entries(tmp_path: Path) -> None:
    r = load_text(tmp_path, "virtual_server_group G {\n 10.0.0.1 80\n 10.0.0.5-9 80\n fwmark 3\n 2001:db8::1-9 80\n}\n"
                  "virtual_server group G {\n lb_algo rr\n lb_kind DR\n protocol TCP\n"
                  " real_server 10.1.0.1 80 {\n }\n}\n")
    assert r.exit_status == 0, r.diagnostics
    e = r.config.virtual_server_groups[0].entries
    assert (e[1].address, e[1].last, e[2].fwmark, e[3].last) == ("10.0.0.5", "10.0.0.9", 3, "2001:db8::9")
    assert r.config.virtual_servers[0].name == "[G]:0"


def test_missing_interface_is_reported(tmp_path: Path) -> None:
    r = load_text(tmp_path, "vrrp_instance V {\n interface eth9\n virtual_router_id 5\n"
                  " virtual_ipaddress {\n 10.0.0.1\n }\n}\n")
    assert "interface eth9" in msgs(r)[0][1] and r.exit_status == 5


def test_script_security_verdicts(tmp_path: Path) -> None:
    body = ("vrrp_script chk {\n script \"/bin/true\"\n}\nvrrp_instance V {\n interface eth0\n"
            " virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n  chk\n }\n}\n")
    assert load_text(tmp_path, body).exit_status == 6
    assert load_text(tmp_path, "global_defs {\n script_user root\n enable_script_security\n}\n" + body).exit_status == 0
    # keepalived 2.2.7 cannot find a bare command name for a non-root script user (observed)
    bare = body.replace("/bin/true", "killall -0 x")
    assert load_text(tmp_path, "global_defs {\n script_user nobody\n}\n" + bare).exit_status == 5
    # not tracked by any instance: never run, so no violation
    assert load_text(tmp_path, "vrrp_script chk {\n script \"/bin/true\"\n}\n").exit_status == 0
    # enable_script_security without a keepalived_script user: the script is removed (exit 5)
    assert load_text(tmp_path, "global_defs {\n enable_script_security\n}\n" + body).exit_status == 5


def test_braces_and_missing_close(tmp_path: Path) -> None:
    r = load_text(tmp_path, "vrrp_instance V { interface eth0\n virtual_router_id 5 }\n}\nvrrp_instance W {\n")
    assert [m for _, m in msgs(r)][:1] == ["Extra '}' found"]
    assert any("missing '}'" in m for _, m in msgs(r))
    assert [i.name for i in r.config.vrrp_instances] == ["V", "W"]


def test_exit_status_mapping() -> None:
    assert exit_status([]) == 0


def test_no_vip_and_long_auth_pass_are_reported(tmp_path: Path) -> None:
    r = load_text(tmp_path, "vrrp_instance V {\n interface eth0\n virtual_router_id 5\n authentication {\n"
                  "  auth_type PASS\n  auth_pass 123456789\n }\n}\n")
    assert [m for _, m in msgs(r)] == ["Truncating auth_pass to 8 characters",
                                       "(V) No VIP specified; at least one is sensible"]
    assert r.config.vrrp_instances[0].auth_pass == "12345678"


def test_old_and_newer_names(tmp_path: Path) -> None:
    r = load_text(tmp_path, "vrrp_track_file f {\n file /tmp/x\n}\nvrrp_instance V {\n interface eth0\n"
                  " virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n timer_expired_backup\n}\n")
    assert r.config.track_files[0].name == "f"  # vrrp_track_file: silent old name
    assert [ln for ln, _ in msgs(r)] == [10]  # timer_expired_backup: newer than 2.2.7, kept with a warning
    assert r.config.vrrp_instances[0].extra == (("timer_expired_backup", ()),)


def test_fast_built_objects_equal_constructor_built() -> None:
    """build.fast_new skips the frozen __init__ for speed; the result must be exactly what __init__ makes."""
    import dataclasses

    for name in ("lvs.conf", "trackers.conf"):
        for vs in load_config(str(CONFIGS / name), host=HOST).config.virtual_servers:
            for rs in vs.real_servers:
                assert dataclasses.replace(rs) == rs and vars(dataclasses.replace(rs)) == vars(rs)
                for ck in rs.checkers:
                    assert vars(dataclasses.replace(ck)) == vars(ck)
                    with pytest.raises(dataclasses.FrozenInstanceError):
                        ck.retry = 9  # type: ignore[misc]


def test_static_routes_and_rules_checks(tmp_path: Path) -> None:
    r = load_text(tmp_path, "static_routes {\n src 10.0.0.5 192.168.1.0/24 via 10.0.0.1 dev eth0\n"
                  " 192.168.2.0/33 via 10.0.0.1 dev eth0\n 0.0.0.0/0 gw 10.0.0.1 table 100\n}\n"
                  "static_rules {\n from 192.168.28.0/24 table 1 priority 100\n to 192.168.100./24 table 1 pref 5\n}\n")
    assert [ln for ln, _ in msgs(r)] == [3, 4, 8]
    assert r.config.static_routes[0].words[:2] == ("src", "10.0.0.5")
    # typed once: options before the destination, "gw" as via, "default" spelled as a network
    first, gw = r.config.static_routes
    assert (str(first.dst), str(first.via), str(first.src), first.dev) == ("192.168.1.0/24", "10.0.0.1",
                                                                          "10.0.0.5", "eth0")
    assert (str(gw.dst), str(gw.via), gw.table) == ("0.0.0.0/0", "10.0.0.1", 100)
    # keepalived frees an entry whose address is invalid (vrrp_iproute.c / vrrp_iprule.c "goto err"): the
    # route with /33 and the rule with "192.168.100./24" are reported (lines 3 and 8) and left out
    assert len(r.config.static_routes) == 2
    (rule,) = r.config.static_rules
    assert (str(rule.src), rule.table, rule.priority) == ("192.168.28.0/24", 1, 100)


@pytest.mark.parametrize(("name", "expected"), [("vm1", "vm1"), ("", ""), ("a" * 15, "a" * 15),
                                                ("a" * 16, ""), ("bad/name", ""), ("..", "")])
def test_use_vmac_name_the_kernel_would_refuse_keeps_the_vmac_with_the_default_name(
        tmp_path: Path, name: str, expected: str) -> None:
    """keepalived 2.2.7: "VMAC interface name ... too long or invalid characters - ignoring", then vrrp.VRID."""
    r = load_text(tmp_path, "vrrp_instance V {\n interface eth0\n virtual_router_id 5\n"
                            f" use_vmac {name}\n virtual_ipaddress {{\n  10.0.0.1/24\n }}\n}}\n")
    (i,) = r.config.vrrp_instances
    assert i.use_vmac == expected
    errors = msgs(r, Severity.ERROR)
    if expected == name:
        assert errors == []
    else:
        assert errors == [(4, f"use_vmac: VMAC interface name '{name}' too long or invalid characters - ignoring")]


def test_unicast_ttl_needs_unicast_peers_as_keepalived_says(tmp_path: Path) -> None:
    base = ("vrrp_instance V {\n interface eth0\n virtual_router_id 5\n unicast_ttl 64\n%s"
            " virtual_ipaddress {\n 10.0.0.1\n }\n}\n")
    r = load_text(tmp_path, base % "")
    assert "(V): Cannot use unicast_ttl without unicast peers - resetting" in [d.message for d in r.diagnostics]
    assert r.config.vrrp_instances[0].unicast_ttl == 255
    r = load_text(tmp_path, base % " unicast_peer {\n  10.0.0.2\n }\n")
    assert not [d for d in r.diagnostics if "unicast_ttl" in d.message]
    assert r.config.vrrp_instances[0].unicast_ttl == 64


@pytest.mark.parametrize(("strict", "severity"), [(False, Severity.NOTICE), (True, Severity.ERROR)])
def test_ipv6_first_vip_not_link_local_is_reported_like_keepalived(
    tmp_path: Path, strict: bool, severity: Severity
) -> None:
    """keepalived 2.2.7 (vrrp.c): "the first IPv6 VIP address should be link local" (informational), a config
    error ("must be") with vrrp_strict; unicast instances are not checked (RFC 9568 §5.2.9, erratum 8300)."""
    head = "global_defs { vrrp_strict }\n" if strict else ""
    r = load_text(tmp_path, head + "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
                  " virtual_ipaddress {\n  2001:db8::1\n  fe80::1\n }\n}\n")
    found = [(d.severity, d.location.line, d.message) for d in r.diagnostics if "link local" in d.message]
    word = "must" if strict else "should"
    assert found == [(severity, 5 + strict, f"(A) the first IPv6 VIP address {word} be link local")]
    ok = load_text(tmp_path, head + "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
                   " virtual_ipaddress {\n  fe80::1\n  2001:db8::1\n }\n}\n")
    assert not [d for d in ok.diagnostics if "link local" in d.message]
    unicast = load_text(tmp_path, head + "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n"
                        " unicast_peer {\n  2001:db8::9\n }\n virtual_ipaddress {\n  2001:db8::1\n }\n}\n")
    assert not [d for d in unicast.diagnostics if "link local" in d.message]
