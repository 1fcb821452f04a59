"""A VRRP unicast pair across a router holds exactly one Master (no split brain), ours + ours and ours + keepalived.

Each peer is on its own LAN segment; a router host (ip_forward=1, an address on each segment) joins them, so every
advert crosses one hop and arrives with TTL ``unicast_ttl - 1``.  keepalived 2.2.7 checks the received TTL is 255
only for an instance without ``unicast_peer`` (vrrp.c vrrp_check_packet: the peer list is the protection there),
which is what lets unicast work across a router; ours must do the same, and send with ``unicast_ttl``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from netns_lab.capture import Capture
from netns_lab.daemons import DaemonSpec, Impl, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.topology import Host, Link, Route, Switch, Topology
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

VIP = "10.9.9.1"
LB1, LB2 = "10.1.0.11", "10.2.0.12"

ROUTED = Topology(
    name="routed",
    hosts=[
        Host("lb1", routes=[Route("10.2.0.0/24", "10.1.0.1")]),
        Host("rtr", sysctls={"net.ipv4.ip_forward": "1"}),
        Host("lb2", routes=[Route("10.1.0.0/24", "10.2.0.1")]),
    ],
    switches=[Switch("sega"), Switch("segb")],
    links=[
        Link("lb1", "sega", "eth0", [f"{LB1}/24"]),
        Link("rtr", "sega", "eth0", ["10.1.0.1/24"]),
        Link("rtr", "segb", "eth1", ["10.2.0.1/24"]),
        Link("lb2", "segb", "eth0", [f"{LB2}/24"]),
    ],
)


def _conf(priority: int, me: str, peer: str, ttl: int | None) -> str:
    extra = f"  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n"
    if ttl is not None:
        extra += f"  unicast_ttl {ttl}\n"
    return keepalived_conf(instance_block(priority=priority, advert_int=0.5, vips=(f"{VIP}/32",), extra=extra))


@pytest.mark.parametrize(
    ("impl2", "ttl"),
    [("pykeepalived", 64), ("keepalived", 64), ("keepalived", None)],
    ids=["ours+ours-ttl64", "ours+keepalived-ttl64", "ours+keepalived-default-ttl"],
)
def test_a_unicast_pair_across_a_router_holds_exactly_one_master(
    lab_factory: Callable[..., Lab], impl2: Impl, ttl: int | None
) -> None:
    lab = lab_factory(ROUTED)
    # lb1 reaches lb2 only through the router
    assert "via 10.1.0.1" in lab.exec("lb1", ["ip", "route", "get", LB2]).stdout
    # lb2 (ours or keepalived) is the Master; ours on lb1 is the Backup, so its counters show what it accepted
    # what the router forwards onto lb1's segment (its bridge port there; the capture sees a port's ingress)
    with Capture(lab.switch_netns("sega"), lab.port_ifname("rtr", "eth0")) as cap:
        # lb2 first, lb1 once lb2 holds the VIP: the other way round, lb1 (started 0.2 s ahead) may reach the end of
        # its Master_Down_Interval first and be Master for a moment before lb2 preempts it: the protocol at work,
        # not a routed advert lost
        lb2 = start_daemon(lab, DaemonSpec("lb2", _conf(150, LB2, LB1, ttl), impl=impl2))
        assert wait_vip_holders(lab, VIP, ["lb2"], timeout=10) == ["lb2"], lb2.log()[-3000:]
        lb1 = start_daemon(lab, DaemonSpec("lb1", _conf(100, LB1, LB2, ttl)))

        def logs() -> str:
            return lb1.log()[-3000:] + lb2.log()[-3000:]

        assert wait_vip_holders(lab, VIP, ["lb2"], timeout=10) == ["lb2"], logs()
        ads = wait_until(lambda: [a for a in cap.adverts(51) if a.src == LB2][:5], 5)
        assert ads, logs()
        # one hop: the TTL the sender set (unicast_ttl, default 255) less one, never 255
        want_ttl = (ttl if ttl is not None else 255) - 1
        assert {(a.dst, a.ttl) for a in ads} == {(LB1, want_ttl)}, ads
        # held for several advert intervals (3 x 0.5 s + skew is Master_Down_Interval): never two Masters
        for _ in range(8):
            assert lb1.instance_states() == {"VI_1": "BACKUP"}, logs()
            assert lb2.instance_states() == {"VI_1": "MASTER"}, logs()
            assert wait_vip_holders(lab, VIP, ["lb2"], timeout=1) == ["lb2"], logs()
            time.sleep(0.3)
        st1 = lb1.stats()["instances"]["VI_1"]
        # lb1 accepts the routed adverts (TTL < 255) from its listed peer and discards none for their TTL
        assert st1["stats"]["adverts_received"] >= 5, st1
        assert st1["stats"]["discards"].get("ttl", 0) == 0, st1
        assert lb1.transitions() == [] or all(t.state != "MASTER" for t in lb1.transitions()), logs()
