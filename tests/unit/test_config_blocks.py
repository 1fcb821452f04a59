"""The blocks typed last: SSL, garp_group, linkbeat_interfaces, track_group, bfd_instance.

Defaults, ranges and removals are keepalived 2.2.7's (each checked with `keepalived -t`; the same cases
run against the real binary in tests/interop/test_config_oracle.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pykeepalived.config import ConfigResult, HostView, Severity, load_config
from pykeepalived.config.dump import dump_json
from pykeepalived.config.model import BfdInstance, GarpGroup, LinkbeatInterface, SslSettings, TrackGroup

HOST = HostView(interfaces=frozenset({"eth0", "eth1"}), find_executable=lambda c: None, user_exists=lambda u: False)


def load_text(tmp_path: Path, text: str) -> ConfigResult:
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    return load_config(str(f), config_id="main", host=HOST)


def problems(r: ConfigResult) -> list[tuple[int, str]]:
    return [(d.location.line, d.message) for d in r.diagnostics if d.severity >= Severity.WARNING]


ALL = """SSL {
 password secret
 ca /etc/ssl/ca.pem
 certificate /etc/ssl/c.pem
 key /etc/ssl/k.pem
}
garp_group {
 garp_interval 0.5
 gna_interval 0.000001
 interface eth0
 interfaces {
  eth1
 }
}
linkbeat_interfaces {
 eth0 MII
 eth1
}
track_group tg1 {
 group {
  VI_1 VI_2
  VI_3
 }
}
bfd_instance b1 {
 neighbor_ip 10.0.0.2
 source_ip 10.0.0.1
 min_rx 10.5
 min_tx 20
 idle_tx 1000
 multiplier 3
 passive
 hoplimit 64
 max_hops 64
 weight -253
 vrrp
}
bfd_instance b2 {
 neighbor_ip fe80::2
}
"""


def test_every_block_typed_with_values(tmp_path: Path) -> None:
    r = load_text(tmp_path, ALL)
    assert problems(r) == []
    c = r.config
    assert c.extra == ()  # nothing left as raw text
    assert c.ssl is not None
    assert (c.ssl.password, c.ssl.ca, c.ssl.certificate, c.ssl.key, c.ssl.location.line) == (
        "secret", "/etc/ssl/ca.pem", "/etc/ssl/c.pem", "/etc/ssl/k.pem", 1)
    assert c.garp_groups == (GarpGroup(c.garp_groups[0].location, 0.5, 0.000001, ("eth0", "eth1")),)
    assert [(lb.name, lb.method, lb.location.line) for lb in c.linkbeat_interfaces] == [
        ("eth0", "MII", 16), ("eth1", None, 17)]
    assert c.track_groups == (TrackGroup("tg1", c.track_groups[0].location, ("VI_1", "VI_2", "VI_3")),)
    b1, b2 = c.bfd_instances
    assert (b1.name, b1.neighbor_ip, b1.source_ip, b1.min_rx, b1.min_tx, b1.idle_tx, b1.multiplier, b1.passive,
            b1.ttl, b1.max_hops, b1.weight, b1.vrrp, b1.checker) == (
        "b1", "10.0.0.2", "10.0.0.1", 10.5, 20.0, 1000.0, 3, True, 64, 64, -253, True, False)
    # keepalived's defaults: 10 ms rx/tx, 1 s idle, multiplier 5, both children get events
    assert b2 == BfdInstance("b2", b2.location, neighbor_ip="fe80::2")
    assert (b2.min_rx, b2.min_tx, b2.idle_tx, b2.multiplier, b2.ttl, b2.weight, b2.vrrp, b2.checker) == (
        10.0, 10.0, 1000.0, 5, None, 0, False, False)


def test_models_are_frozen(tmp_path: Path) -> None:
    c = load_text(tmp_path, ALL).config
    for obj, fld in ((c.ssl, "ca"), (c.garp_groups[0], "garp_interval"), (c.linkbeat_interfaces[0], "method"),
                     (c.track_groups[0], "group"), (c.bfd_instances[0], "weight")):
        with pytest.raises(AttributeError):
            setattr(obj, fld, None)


def test_dump_contains_every_block(tmp_path: Path) -> None:
    d = json.loads(dump_json(load_text(tmp_path, ALL).config))
    assert d["ssl"]["certificate"] == "/etc/ssl/c.pem" and d["ssl"]["location"].endswith(":1")
    assert d["garp_groups"][0]["interfaces"] == ["eth0", "eth1"]
    assert [x["name"] for x in d["linkbeat_interfaces"]] == ["eth0", "eth1"]
    assert d["track_groups"][0]["group"] == ["VI_1", "VI_2", "VI_3"]
    assert [(x["name"], x["min_rx"]) for x in d["bfd_instances"]] == [("b1", 10.5), ("b2", 10.0)]


def test_absent_blocks_default(tmp_path: Path) -> None:
    c = load_text(tmp_path, "global_defs {\n router_id r\n}\n").config
    assert (c.ssl, c.garp_groups, c.linkbeat_interfaces, c.track_groups, c.bfd_instances) == (None, (), (), (), ())


B = "bfd_instance b {\n neighbor_ip 10.0.0.2\n"


@pytest.mark.parametrize(("text", "line", "fragment"), [
    # SSL
    ("SSL {\n password\n}\n", 2, "missing value"),
    ("SSL {\n bogus 1\n}\n", 2, "Unknown keyword 'bogus'"),
    ("SSL {\n key /x\n}\nSSL {\n ca /y\n}\n", 4, "SSL context already specified - replacing"),
    # garp_group
    ("garp_group {\n garp_interval x\n interface eth0\n}\n", 2, "invalid number 'x'"),
    ("garp_group {\n gna_interval -1\n interface eth0\n}\n", 2, "invalid number '-1'"),
    ("garp_group {\n garp_interval 2147.483648\n}\n", 2, "outside range"),
    ("garp_group {\n garp_interval 0.1234567\n}\n", 2, "too many decimal places"),
    ("garp_group {\n interface eth0\n}\n", 1, "garp group 0 does not have any delay set - removing"),
    ("garp_group {\n garp_interval 1\n interface nosuch\n}\n", 3, "interface nosuch specified for garp_group"),
    ("garp_group {\n garp_interval 1\n interface eth0\n interface eth0\n}\n", 4,
     "garp_group already specified for eth0"),
    ("garp_group {\n garp_interval 1\n interface eth0\n}\ngarp_group {\n gna_interval 1\n interfaces {\n eth0\n"
     " }\n}\n", 8, "garp_group already specified for eth0"),
    ("garp_group {\n garp_interval 1\n interfaces {\n }\n}\n", 3, "empty garp_group interfaces block"),
    # linkbeat_interfaces
    ("linkbeat_interfaces {\n eth0 FOO\n}\n", 2, "extra characters FOO in linkbeat interface"),
    # track_group
    ("track_group {\n group {\n VI_1\n }\n}\n", 1, "missing NAME"),
    ("track_group t {\n group {\n VI_1\n }\n}\ntrack_group t {\n}\n", 6, "track_group t already defined"),
    ("track_group t {\n bogus 1\n}\n", 2, "Unknown keyword 'bogus'"),
    # bfd_instance
    (B + " min_rx 0\n}\n", 3, "outside range"),
    (B + " min_tx 4294968\n}\n", 3, "outside range"),
    (B + " idle_tx 999\n}\n", 3, "outside range"),
    (B + " idle_tx 1000.0001\n}\n", 3, "too many decimal places"),
    (B + " min_rx 1e3\n}\n", 3, "invalid number '1e3'"),
    (B + " multiplier 0\n}\n", 3, "multiplier"),
    (B + " multiplier 256\n}\n", 3, "multiplier"),
    (B + " ttl 0\n}\n", 3, "ttl"),
    (B + " hoplimit 256\n}\n", 3, "ttl"),
    (B + " max_hops 256\n}\n", 3, "max_hops"),
    (B + " weight 254\n}\n", 3, "weight"),
    (B + " source_ip 10.0.0.x\n}\n", 3, "invalid IP address"),
    (B + " source_ip fe80::1\n}\n", 1, "not of the same family"),
    ("bfd_instance b {\n min_rx 10\n}\n", 1, "has no neighbor address set"),
    ("bfd_instance " + "x" * 32 + " {\n neighbor_ip 10.0.0.2\n}\n", 1, "name too long"),
    (B + "}\n" + B + "}\n", 4, "BFD instance b already configured"),
    (B + "}\nbfd_instance c {\n neighbor_ip 10.0.0.2\n source_ip 10.0.0.6\n}\n", 4, "duplicate source/neighbor"),
    (B + " bogus 1\n}\n", 3, "Unknown keyword 'bogus'"),
    (B + " ttl 4\n max_hops 5\n}\n", 1, "max_hops exceeds ttl/hoplimit"),
    (B + " max_hops -1\n hoplimit 254\n}\n", 1, "max_hops exceeds ttl/hoplimit"),
])
def test_invalid_uses_reported_with_line(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    r = load_text(tmp_path, text)
    assert r.exit_status == 5, r.diagnostics
    assert any(ln == line and fragment in m for ln, m in problems(r)), problems(r)


def test_invalid_value_keeps_default(tmp_path: Path) -> None:
    (b,) = load_text(tmp_path, B + " multiplier 0\n min_rx 0\n}\n").config.bfd_instances
    assert (b.multiplier, b.min_rx) == (5, 10.0)


def test_max_hops_capped_at_ttl(tmp_path: Path) -> None:
    (b,) = load_text(tmp_path, B + " ttl 4\n max_hops 5\n}\n").config.bfd_instances
    assert (b.ttl, b.max_hops) == (4, 4)
    (b,) = load_text(tmp_path, B + " max_hops -1\n}\n").config.bfd_instances  # any hops, default ttl 255
    assert (b.ttl, b.max_hops) == (None, -1)


def test_removed_items_are_left_out(tmp_path: Path) -> None:
    c = load_text(tmp_path, "garp_group {\n interface eth0\n}\ngarp_group {\n gna_interval 1\n interface eth0\n"
                            " interface eth0\n}\n" + B + "}\n" + B + "}\nbfd_instance c {\n min_rx 10\n}\n"
                            "track_group t {\n group {\n A\n }\n}\ntrack_group t {\n group {\n B\n }\n}\n").config
    # the first garp_group is removed (no delay) but still claimed eth0, as keepalived's parser does
    assert [(g.gna_interval, g.interfaces) for g in c.garp_groups] == [(1.0, ())]
    assert [b.name for b in c.bfd_instances] == ["b"]
    assert [(t.name, t.group) for t in c.track_groups] == [("t", ("A",))]


def test_second_ssl_block_replaces_first(tmp_path: Path) -> None:
    c = load_text(tmp_path, "SSL {\n key /x\n}\nSSL {\n ca /y\n}\n").config
    assert c.ssl == SslSettings(c.ssl.location, ca="/y") and c.ssl.location.line == 4  # type: ignore[union-attr]


def test_linkbeat_unknown_interface_is_fatal(tmp_path: Path) -> None:
    r = load_text(tmp_path, "linkbeat_interfaces {\n eth0 IOCTL\n nosuch ETHTOOL\n}\n")
    assert r.exit_status == 4  # keepalived 2.2.7 -t exits 4 on this
    assert problems(r) == [(3, "unknown interface nosuch specified for linkbeat interface")]
    assert r.config.linkbeat_interfaces[0] == LinkbeatInterface("eth0", r.config.linkbeat_interfaces[0].location,
                                                                "IOCTL")


def test_valid_edges_accepted(tmp_path: Path) -> None:
    r = load_text(tmp_path, "garp_group {\n garp_interval 2147.483647\n gna_interval 0\n}\n"
                            + B + " min_rx 4294967\n min_tx 1.123\n idle_tx 4294967\n max_hops -1\n ttl 255\n"
                            " weight 253\n}\ntrack_group t {\n}\nSSL {\n}\n")
    assert problems(r) == []
    (b,) = r.config.bfd_instances
    assert (b.min_rx, b.min_tx, b.ttl, b.weight) == (4294967.0, 1.123, 255, 253)
    assert r.config.garp_groups[0].garp_interval == 2147.483647


def test_dynamic_interfaces_skips_interface_checks(tmp_path: Path) -> None:
    r = load_text(tmp_path, "global_defs {\n dynamic_interfaces\n}\nlinkbeat_interfaces {\n nosuch\n}\n"
                            "garp_group {\n garp_interval 1\n interface nosuch2\n}\n")
    assert problems(r) == []
    assert [lb.name for lb in r.config.linkbeat_interfaces] == ["nosuch"]
    assert r.config.garp_groups[0].interfaces == ("nosuch2",)
