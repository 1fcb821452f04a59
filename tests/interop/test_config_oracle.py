"""Interop: hand-written configs (the unit fixtures and one per tricky construct) through our -t and
`keepalived -t`; the verdict class must agree. Complements test_config_samples.py, whose corpus has no
unicast_peer, lvs_sched, track_file, vrrp_track_process, DNS_CHECK, FILE_CHECK, macros or ~SEQ.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.interop

KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"
FIXTURES = Path(__file__).parent.parent / "unit" / "configs"
_VI = "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {{\n 10.0.0.1\n }}\n{}\n}}\n"
_VS = ("virtual_server 10.0.0.1 80 {{\n lvs_sched rr\n lvs_method NAT\n protocol TCP\n{}\n"
       " real_server 10.0.0.2 80 {{\n{}\n }}\n}}\n")
CASES = {
    "clean_vrrp": _VI.format(""),
    "unknown_keyword": _VI.format(" bogus_kw 1"),
    "bad_vrid": _VI.format(" virtual_router_id 300"),
    "priority_zero": _VI.format(" priority 0"),
    "v2_fractional_advert": _VI.format(" advert_int 1.5"),
    "v3_fractional_advert": _VI.format(" version 3\n advert_int 0.5"),
    "ah_master": _VI.format(" state MASTER\n authentication {\n auth_type AH\n auth_pass x\n }"),
    "long_auth_pass": _VI.format(" authentication {\n auth_type PASS\n auth_pass 123456789\n }"),
    "no_vip": "vrrp_instance V {\n interface eth0\n virtual_router_id 5\n}\n",
    "missing_iface": _VI.format(" interface nosuch0"),
    "unicast": _VI.format(" unicast_src_ip 10.0.0.9\n unicast_peer {\n 10.0.0.10\n 10.0.0.11\n }"),
    "script_security": 'vrrp_script c {\n script "/bin/true"\n}\n' + _VI.format(" track_script {\n c\n }"),
    "script_root_secure": 'global_defs {\n script_user root\n enable_script_security\n}\n'
                          'vrrp_script c {\n script "/bin/true"\n}\n' + _VI.format(" track_script {\n c\n }"),
    "script_missing": 'vrrp_script c {\n script "/nonexistent/x"\n}\n' + _VI.format(" track_script {\n c\n }"),
    "notify_missing": _VI.format(' notify_master "/nonexistent/x a b"'),
    "clean_vs": _VS.format("", "  TCP_CHECK {\n  connect_timeout 3\n  }"),
    "vs_defaults": "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n }\n}\n",
    "vs_bad_sched": _VS.format(" lvs_sched foo", ""),
    "vs_nb_get_retry_http": _VS.format("", "  HTTP_GET {\n  nb_get_retry 3\n  url {\n  path /\n  }\n  }"),
    "vs_nb_get_retry_tcp": _VS.format("", "  TCP_CHECK {\n  nb_get_retry 3\n  }"),
    "vs_dns_check": _VS.format("", "  DNS_CHECK {\n  type A\n  name example.org\n  }"),
    "vs_misc_security": _VS.format("", '  MISC_CHECK {\n  misc_path "/bin/true"\n  }'),
    "fwmark_with_protocol": "virtual_server fwmark 3 {\n lvs_sched rr\n lvs_method DR\n protocol TCP\n"
                            " real_server 10.0.0.2 {\n }\n}\n",
    "zero_port": "virtual_server 10.0.0.1 {\n lvs_sched rr\n lvs_method DR\n protocol TCP\n"
                 " real_server 10.0.0.2 80 {\n }\n}\n",
    "track_process": "vrrp_track_process p {\n process haproxy\n weight 10\n}\n"
                     + _VI.format(" track_process {\n p\n }"),
    "track_file": "track_file f {\n file /tmp/pyka-nonexistent\n weight -5\n}\n" + _VI.format(" track_file {\n f\n }"),
    "macros": "$I=VI_9\n$R=9\nvrrp_instance $I {\n interface eth0\n virtual_router_id ${R}\n"
              " virtual_ipaddress {\n ~SEQ(N,1,3) 10.0.${N}.1\n }\n}\n",
    "conditional_other_id": "@nosuchhost bogus_kw\n" + _VI.format(" @^nosuchhost priority 50"),
    "extra_close": _VI.format("") + "}\n",
    "unclosed": "vrrp_instance V {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n",
    "rule_ok": "static_rules {\n from 192.168.28.0/24 table 1 priority 100\n}\n",
    "rule_no_pref": "static_rules {\n from 192.168.28.0/24 table 1\n}\n",
    "strict_resets_lower_prio": _VI.format(" strict_mode\n higher_prio_send_advert\n garp_lower_prio_repeat 3"),
    "unicast_ttl_no_peer": _VI.format(" unicast_ttl 64"),
    "unicast_ttl_peer": _VI.format(" unicast_ttl 64\n unicast_peer {\n 10.0.0.2\n }"),
    "rule_bad_addr": "static_rules {\n from 192.168.28./24 table 1 priority 100\n}\n",
    "route_ok": "static_routes {\n src 10.0.0.5 192.168.1.0/24 via 10.0.0.1 dev eth0\n}\n",
    "route_gw": "static_routes {\n 192.168.1.0/24 gw 10.0.0.1 dev eth0\n}\n",
    "route_bad_prefix": "static_routes {\n 192.168.1.0/33 via 10.0.0.1 dev eth0\n}\n",
    "route_untracked": "static_routes {\n blackhole 192.168.1.0/24\n}\n",
    "includem_missing": "includem /nonexistent/pyka.conf\n" + _VI.format(""),
    "include_missing": "include /nonexistent/pyka.conf\n" + _VI.format(""),
    "includer_device": "includer /dev/zero\n" + _VI.format(""),  # keepalived skips it, status 6; ours too
    "seq_huge_count": "~SEQ(i,1," + "9" * 5000 + ") x\n" + _VI.format(""),
    # SSL, garp_group, linkbeat_interfaces, track_group, bfd_instance (typed blocks, tests/unit/test_config_blocks.py)
    "ssl_ok": "SSL {\n password secret\n ca /nonexistent/ca.pem\n certificate /x/c.pem\n key /x/k.pem\n}\n",
    "ssl_missing_value": "SSL {\n password\n}\n",
    "ssl_twice": "SSL {\n key /x\n}\nSSL {\n ca /y\n}\n",
    "ssl_unknown": "SSL {\n bogus 1\n}\n",
    "garp_ok": "garp_group {\n garp_interval 0.5\n gna_interval 2147.483647\n interfaces {\n lo\n }\n}\n",
    "garp_no_delay": "garp_group {\n interface lo\n}\n",
    "garp_bad_interval": "garp_group {\n garp_interval 0.1234567\n interface lo\n}\n",
    "garp_range": "garp_group {\n garp_interval 2147.483648\n gna_interval 1\n}\n",
    "garp_no_iface": "garp_group {\n garp_interval 1\n interface pykanosuch0\n}\n",
    "garp_dup_iface": "garp_group {\n garp_interval 1\n interface lo\n}\ngarp_group {\n gna_interval 1\n"
                      " interface lo\n}\n",
    "garp_empty_list": "garp_group {\n garp_interval 1\n interfaces {\n }\n}\n",
    "linkbeat_ok": "linkbeat_interfaces {\n lo\n lo IOCTL\n}\n",
    "linkbeat_bad_method": "linkbeat_interfaces {\n lo FOO\n}\n",
    "linkbeat_dynamic": "global_defs {\n dynamic_interfaces\n}\nlinkbeat_interfaces {\n pykanosuch0\n}\n"
                        "garp_group {\n garp_interval 1\n interface pykanosuch0\n}\n",
    "linkbeat_extra_words": "linkbeat_interfaces {\n lo MII extra\n}\n",
    "linkbeat_no_iface": "linkbeat_interfaces {\n pykanosuch0 MII\n}\n",
    "track_group_ok": "track_group tg {\n group {\n VI_1 VI_2\n }\n}\n" + _VI.format(""),
    "track_group_no_name": "track_group {\n group {\n VI_1\n }\n}\n",
    "track_group_twice": "track_group t {\n}\ntrack_group t {\n}\n",
    "bfd_ok": "bfd_instance b {\n neighbor_ip 10.0.0.2\n source_ip 10.0.0.1\n min_rx 1.123\n min_tx 4294967\n"
              " idle_tx 1000\n multiplier 255\n passive\n hoplimit 3\n max_hops 3\n weight -253\n checker\n}\n"
              "bfd_instance c {\n neighbor_ip 10.0.0.2\n source_ip 10.0.0.5\n}\n",
    "bfd_no_neighbor": "bfd_instance b {\n min_rx 10\n}\n",
    "bfd_idle_range": "bfd_instance b {\n neighbor_ip 10.0.0.2\n idle_tx 999\n}\n",
    "bfd_decimals": "bfd_instance b {\n neighbor_ip 10.0.0.2\n min_rx 1.0001\n}\n",
    "bfd_weight_range": "bfd_instance b {\n neighbor_ip 10.0.0.2\n weight 254\n}\n",
    "bfd_family": "bfd_instance b {\n neighbor_ip 10.0.0.2\n source_ip fe80::1\n}\n",
    "bfd_long_name": "bfd_instance " + "x" * 32 + " {\n neighbor_ip 10.0.0.2\n}\n",
    "bfd_dup_name": "bfd_instance b {\n neighbor_ip 10.0.0.2\n}\nbfd_instance b {\n neighbor_ip 10.0.0.3\n}\n",
    "bfd_max_hops_any": "bfd_instance b {\n neighbor_ip 10.0.0.2\n max_hops -1\n}\n",
    "bfd_max_hops_over_ttl": "bfd_instance b {\n neighbor_ip 10.0.0.2\n max_hops -1\n ttl 254\n}\n",
    "bfd_dup_neighbor": "bfd_instance b {\n neighbor_ip 10.0.0.2\n}\nbfd_instance c {\n neighbor_ip 10.0.0.2\n"
                        " source_ip 10.0.0.6\n}\n",
}


def _klass(rc: int) -> str:
    return {0: "ok", 4: "cannot-run", 5: "errors", 6: "security/missing-file"}.get(rc, f"other({rc})")


def _both(path: Path) -> tuple[int, str, int, str]:
    ka = subprocess.run([KEEPALIVED, "-t", "-l", "-f", str(path)], capture_output=True, text=True, timeout=60)
    ours = subprocess.run([sys.executable, "-m", "pykeepalived.cli", "-t", "-f", str(path)],
                          capture_output=True, text=True, timeout=60)
    return ka.returncode, ka.stdout + ka.stderr, ours.returncode, ours.stderr


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdict_agrees_with_keepalived(name: str, tmp_path: Path) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text(CASES[name])
    ka_rc, ka_out, rc, out = _both(f)
    assert _klass(rc) == _klass(ka_rc), f"ours {rc}:\n{out}\nkeepalived {ka_rc}:\n{ka_out}"


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.conf")))
def test_unit_fixture_verdict_agrees_with_keepalived(name: str) -> None:
    ka_rc, ka_out, rc, out = _both(FIXTURES / name)
    assert _klass(rc) == _klass(ka_rc), f"ours {rc}:\n{out}\nkeepalived {ka_rc}:\n{ka_out}"
