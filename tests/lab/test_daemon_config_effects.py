"""Settings that used to be parsed and dropped, now taking keepalived 2.2.7's effect, seen on the wire:

* ``unicast_ttl``: the TTL of the adverts sent to unicast peers; a unicast peer accepts them whatever their TTL
  (keepalived checks TTL 255 only without ``unicast_peer``, vrrp.c vrrp_check_packet);
* ``higher_prio_send_advert``: a Master that hears a higher priority sends one last advert of its own before it
  goes Backup (so a peer that missed ours during a split brain hears it);
* ``garp_lower_prio_repeat``: a Master that hears a lower-priority advert sends gratuitous ARPs for its VIPs
  (refreshing ARP caches after a split brain); 0 sends none; ``garp_lower_prio_delay``: the same again later.
"""

from __future__ import annotations

import time

import pytest
from test_daemon_hostile import _inject

from netns_lab.capture import Capture
from netns_lab.daemons import (
    DaemonSpec,
    instance_block,
    keepalived_conf,
    start_daemon,
    vip_holders,
    wait_vip_holders,
)
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until
from vrrp.io.garp import parse_arp

pytestmark = pytest.mark.lab

VIP = "10.0.0.100"


def test_unicast_ttl_is_the_ttl_on_the_wire_and_a_unicast_peer_accepts_it(lab: Lab) -> None:
    def conf(priority: int, me: str, peer: str, ttl: int) -> str:
        extra = f"  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n  unicast_ttl {ttl}\n"
        return keepalived_conf(instance_block(priority=priority, extra=extra))

    # unicast frames are not flooded to the bridge itself: watch what lb1 sends into its bridge port
    with Capture(lab.switch_netns("lan"), lab.port_ifname("lb1")) as cap:
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf(150, "10.0.0.11", "10.0.0.12", 64)))
        lb2 = start_daemon(lab, DaemonSpec("lb2", conf(100, "10.0.0.12", "10.0.0.11", 200)))
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log() + lb2.log()
        ads = wait_until(lambda: [a for a in cap.adverts(51) if a.src == "10.0.0.11"][:5], 5)
        assert ads, lb1.log()
        assert {(a.dst, a.ttl) for a in ads} == {("10.0.0.12", 64)}, ads
        time.sleep(0.5)
        st2 = lb2.stats()["instances"]["VI_1"]
        # lb2 takes lb1's TTL-64 adverts: it stays Backup and counts no TTL error
        assert st2["state"] == "BACKUP" and st2["stats"]["adverts_received"] >= 3, st2
        assert st2["stats"]["discards"].get("ttl", 0) == 0, st2
        assert vip_holders(lab, VIP) == ["lb1"]


@pytest.mark.parametrize("send", [True, False], ids=["higher_prio_send_advert", "default"])
def test_higher_prio_send_advert_sends_one_last_advert_before_backup(lab: Lab, send: bool) -> None:
    extra = "  higher_prio_send_advert\n" if send else ""
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        low = keepalived_conf(instance_block(priority=100, advert_int=1, extra=extra))
        lb1 = start_daemon(lab, DaemonSpec("lb1", low))
        assert wait_vip_holders(lab, VIP, ["lb1"], timeout=8) == ["lb1"], lb1.log()
        lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=200, advert_int=1))))
        first = cap.wait_for(lambda a: a.vrid == 51 and a.priority == 200, 10)
        assert first is not None, lb2.log()
        time.sleep(1.5)  # longer than advert_int: a periodic advert from a Master lb1 would show
        after = [a for a in cap.adverts(51) if a.priority == 100 and a.t >= first.t]
        if send:
            assert len(after) == 1 and after[0].t - first.t < 0.5, (first, after)
        else:
            assert after == [], (first, after)
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"], lb1.log()
        assert lb1.state() == "BACKUP"


@pytest.mark.parametrize(("repeat", "delay"), [(3, 0), (0, 0), (2, 2)])
def test_garp_lower_prio_repeat_sends_garps_on_a_lower_priority_advert(lab: Lab, repeat: int, delay: int) -> None:
    # garp_master_repeat differs, so the count shows which setting the lower-priority burst follows; with
    # garp_lower_prio_delay the same burst comes again that much later (keepalived's second burst)
    extra = (f"  garp_master_repeat 1\n  garp_master_delay 0\n  garp_lower_prio_repeat {repeat}\n"
             f"  garp_lower_prio_delay {delay}\n")
    conf = keepalived_conf(instance_block(priority=150, advert_int=1, extra=extra),
                           global_extra="  vrrp_garp_interval 0.05\n")
    with Capture.on_switch(lab, keep_frames=True) as cap:
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf))
        assert wait_vip_holders(lab, VIP, ["lb1"], timeout=8) == ["lb1"], lb1.log()

        def garps(since: float) -> list[float]:
            out = []
            for t, frame in cap.frames(since):
                arp = parse_arp(frame)
                if arp is not None and arp.gratuitous and str(arp.sender_ip) == VIP:
                    out.append(t)
            return out

        assert wait_until(lambda: len(garps(0)) >= 1, 3), lb1.log()  # the takeover burst
        time.sleep(0.5)
        t = time.time()
        _inject(lab, [{"version": 3, "vrid": 51, "priority": 50, "vip": VIP, "interval_cs": 100}])
        time.sleep(1.0)
        assert len(garps(t)) == repeat, (garps(t), lb1.log()[-2000:])
        if delay:
            time.sleep(delay)
            second = garps(t)[repeat:]
            assert len(second) == repeat and second[0] - garps(t)[0] >= delay - 0.1, (garps(t), lb1.log()[-2000:])
        st1 = lb1.stats()["instances"]["VI_1"]
        assert st1["state"] == "MASTER" and st1["stats"]["adverts_received"] >= 1, st1
