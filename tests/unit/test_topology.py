"""Topology validation: every mistake is refused before anything is built, with an error naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netns_lab.fixtures import as_topology
from netns_lab.topology import Host, Link, Route, Switch, Topology, TopologyError, port_ifname


def two(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "t",
        "hosts": ["a", "b"],
        "switches": ["s"],
        "links": [
            {"host": "a", "switch": "s", "addresses": ["10.0.0.1/24"]},
            {"host": "b", "switch": "s", "addresses": ["10.0.0.2/24"]},
        ],
    }
    base.update(over)
    return base


def test_default_topology_matches_the_agreed_layout() -> None:
    t = Topology.default()
    assert [h.name for h in t.hosts] == ["client", "lb1", "lb2", "rs1", "rs2"]
    assert [s.name for s in t.switches] == ["lan"]
    assert t.addresses("lb1", 4) == ["10.0.0.11"] and t.addresses("rs2", 6) == ["fd00::22"]
    assert t.addresses("client") == ["10.0.0.10", "fd00::10"]
    every = [a for h in t.hosts for a in t.addresses(h.name, 4)]
    assert "10.0.0.100" not in every  # the VIP is free
    assert all(lk.switch == "lan" and lk.ifname == "eth0" for lk in t.links)


def test_dict_round_trip() -> None:
    t = Topology(
        "rt",
        [Host("a", sysctls={"net.ipv4.ip_forward": "1"}, routes=[Route("default", "10.0.0.2")]), Host("b")],
        [Switch("s")],
        [Link("a", "s", "eth1", ["10.0.0.1/24", "fd00::1/64"]), Link("b", "s", addresses=["10.0.0.2/24"])],
    )
    assert Topology.from_dict(json.loads(t.to_json())) == t


@pytest.mark.parametrize(
    ("desc", "needle"),
    [
        (two(name="Bad Name"), "name: bad topology name 'Bad Name'"),
        (two(hosts=["a", "a"]), "hosts[1].name: duplicate name 'a'"),
        (two(hosts=["a", "b", "s"]), "switches[0].name: duplicate name 's'"),
        (two(hosts=["a", "b_c"]), "hosts[1].name: bad host name 'b_c'"),
        (two(hosts=["a", "x" * 21]), "hosts[1].name: bad host name"),
        (two(hosts=["a", "b.c"]), "hosts[1].name: bad host name 'b.c'"),
        (two(switches=["S1"]), "switches[0].name: bad switch name 'S1'"),
        (two(links=[{"host": "a", "switch": "nope"}]), "links[0].switch: unknown switch 'nope'"),
        (two(links=[{"host": "zz", "switch": "s"}]), "links[0].host: unknown host 'zz'"),
        (
            two(links=[{"host": "a", "switch": "s", "ifname": "averyveryverylongname"}]),
            "links[0].ifname: bad interface",
        ),
        (
            two(links=[{"host": "a", "switch": "s", "ifname": "et/h0"}]),
            "links[0].ifname: bad interface name 'et/h0'",
        ),
        (two(links=[{"host": "a", "switch": "s", "ifname": "lo"}]), "links[0].ifname: 'lo' is the loopback"),
        (
            two(links=[{"host": "a", "switch": "s"}, {"host": "a", "switch": "s"}]),
            "links[1].ifname: host 'a' already",
        ),
        (
            two(links=[{"host": "a", "switch": "s", "addresses": ["10.0.0.300/24"]}]),
            "links[0].addresses[0]: bad",
        ),
        (
            two(links=[{"host": "a", "switch": "s", "addresses": ["10.0.0.1"]}]),
            "links[0].addresses[0]: bad address",
        ),
        (
            two(links=[{"host": "a", "switch": "s", "addresses": ["fd00::1/129"]}]),
            "links[0].addresses[0]: bad",
        ),
        (two(links=[{"host": "a", "switch": "s", "addresses": ["224.0.0.18/24"]}]), "multicast"),
        (
            two(links=[{"host": "a", "switch": "s", "addresses": "10.0.0.1/24"}]),
            "links[0].addresses: expected a list",
        ),
        (
            two(
                links=[
                    {"host": "a", "switch": "s", "addresses": ["10.0.0.1/24"]},
                    {"host": "b", "switch": "s", "addresses": ["10.0.0.1/24"]},
                ]
            ),
            "links[1].addresses[0]: address 10.0.0.1 is already assigned (links[0])",
        ),
        (two(links=[{"host": "a", "switch": "s", "bogus": 1}]), "links[0]: unknown field(s) ['bogus']"),
        (two(links=[{"host": "a"}]), "links[0]: missing field(s) ['switch']"),
        (
            two(hosts=["b", {"name": "a", "sysctls": {"kernel.panic": "1"}}]),
            "hosts[1] (a).sysctls: bad sysctl 'kernel.panic'",
        ),
        (two(hosts=["b", {"name": "a", "sysctls": {"net/../../kernel/x": "1"}}]), "bad sysctl"),
        (
            two(hosts=["b", {"name": "a", "routes": [{"dst": "10.1.0.0/16", "gateway": "nope"}]}]),
            "hosts[1] (a).routes[0].gateway",
        ),
        (
            two(hosts=["b", {"name": "a", "routes": [{"dst": "10.1.0.1/16", "gateway": "10.0.0.2"}]}]),
            "hosts[1] (a).routes[0].dst",
        ),
        (
            two(hosts=["b", {"name": "a", "routes": [{"dst": "fd01::/64", "gateway": "10.0.0.2"}]}]),
            "different IP versions",
        ),
        (
            two(hosts=["b", {"name": "a", "routes": [{"dst": "default"}]}]),
            "hosts[1].routes[0]: missing field(s) ['gateway']",
        ),
        (two(extra=1), "unknown field(s) ['extra']"),
        (two(hosts="a"), "hosts: expected a list"),
    ],
)
def test_bad_descriptions_name_the_field(desc: dict[str, Any], needle: str) -> None:
    with pytest.raises(TopologyError) as err:
        Topology.from_dict(desc, source="scen.json")
    msg = str(err.value)
    assert msg.startswith("scen.json: "), msg
    assert needle in msg, msg


def test_dataclass_construction_is_validated_too() -> None:
    with pytest.raises(TopologyError, match=r"links\[0\].switch: unknown switch 'x'"):
        Topology("t", [Host("a")], [Switch("s")], [Link("a", "x")])
    with pytest.raises(TopologyError, match=r"hosts\[1\].name: duplicate name 'a'"):
        Topology("t", [Host("a"), Host("a")], [], [])
    with pytest.raises(TopologyError, match=r"links\[0\].addresses\[0\]: bad address 'fd00::zz/64'"):
        Topology("t", [Host("a")], [Switch("s")], [Link("a", "s", addresses=["fd00::zz/64"])])
    with pytest.raises(TopologyError, match=r"hosts\[0\]: expected a Host, got str"):
        Topology("t", ["a"], [], [])  # type: ignore[list-item]


def test_port_names_fit_ifnamsiz_and_never_collide() -> None:
    assert port_ifname("lb1", "eth0", 3) == "lb1.eth0"
    assert port_ifname("averylonghost", "eth0", 7) == "p7"
    names = {
        port_ifname(h, i, n)
        for n, (h, i) in enumerate([("a", "b.c"), ("p1", "x"), ("x" * 20, "eth0"), ("a-b", "c")])
    }
    assert len(names) == 4 and all(len(n) <= 15 for n in names)


def test_fixture_description_sources(tmp_path: Path) -> None:
    assert as_topology(None) == Topology.default()
    path = tmp_path / "t.json"
    path.write_text(json.dumps(two()))
    assert as_topology(path).name == "t"
    path.write_text('{"name": "t",\n "hosts": [}')
    with pytest.raises(TopologyError, match=r"t.json:2: not valid JSON"):
        as_topology(path)
    path.write_text(json.dumps(two(hosts=["a", "a"])))
    with pytest.raises(TopologyError, match=r"t.json: topology 't': hosts\[1\].name: duplicate"):
        as_topology(str(path))
