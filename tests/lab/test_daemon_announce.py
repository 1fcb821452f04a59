"""What a new Master tells the LAN, counted on the wire (AF_PACKET on the bridge): gratuitous ARP bursts,
the second burst after ``garp_master_delay``, ``garp_master_refresh`` rounds; for IPv6 the unsolicited NA
(R=1 S=0 O=1), the Solicited-Node group joined by the daemon, and ``-nodad`` honoured
(keepalived.conf(5) ``virtual_ipaddress`` options,
RFC 9568 §6.4.2)."""

from __future__ import annotations

import ipaddress
import itertools
import json
import re
import time

import pytest

from netns_lab.capture import Capture
from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.measure import clusters
from netns_lab.waiting import wait_until
from vrrp.io.garp import NeighbourAdvert, parse_arp, parse_na

pytestmark = pytest.mark.lab

VIP = "10.0.0.100"


def _mac(lab: Lab, host: str) -> bytes:
    text = json.loads(lab.exec(host, ["ip", "-j", "link", "show", "eth0"]).stdout)[0]["address"]
    return bytes.fromhex(text.replace(":", ""))


def test_garp_repeat_delay_and_refresh_match_the_config(lab: Lab) -> None:
    # repeat 3 rounds 50 ms apart at takeover, again 1 s later, then 2 rounds every 3 s while Master
    extra = ("  garp_master_repeat 3\n  garp_master_delay 1\n"
             "  garp_master_refresh 3\n  garp_master_refresh_repeat 2\n")
    conf = keepalived_conf(instance_block(priority=150, extra=extra), global_extra="  vrrp_garp_interval 0.05\n")
    with Capture.on_switch(lab, keep_frames=True) as cap:
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf))
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()

        def garps() -> list[float]:
            out = []
            for t, frame in cap.frames():
                arp = parse_arp(frame)
                if arp is not None and arp.gratuitous and str(arp.sender_ip) == VIP:
                    assert arp.sender_mac == _mac(lab, "lb1") and arp.eth_dst == b"\xff" * 6
                    out.append(t)
            return out

        first = wait_until(garps, 3)
        assert first, lb1.log()
        t0 = min(first)
        assert wait_until(lambda: max(garps()) > t0 + 3.0, 4.5), f"no refresh burst 3 s after {t0}: {garps()}"
        time.sleep(0.3)
        bursts = clusters(garps(), gap=0.3)
        assert [len(b) for b in bursts] == [3, 3, 2], bursts
        offsets = [b[0] - t0 for b in bursts]
        assert offsets[1] == pytest.approx(1.0, abs=0.25) and offsets[2] == pytest.approx(3.0, abs=0.25), offsets
        for b in bursts:  # rounds inside a burst are vrrp_garp_interval apart
            gaps = [y - x for x, y in itertools.pairwise(b)]
            assert all(0.03 <= g <= 0.3 for g in gaps), gaps
        # a Backup that leaves mastership stops announcing: after a graceful stop, no more GARPs
        assert lb1.stop() == 0
        n = len(garps())
        time.sleep(1.2)
        assert len(garps()) == n


def _maddr_users(lab: Lab, host: str, group: str) -> int:
    """How many memberships the host holds on eth0 for ``group`` (0: not joined)."""
    for line in lab.exec(host, ["ip", "-6", "maddr", "show", "dev", "eth0"]).stdout.splitlines():
        if f" {group}" in line:
            m = re.search(r"users (\d+)", line)
            return int(m.group(1)) if m else 1
    return 0


def test_ipv6_master_sends_unsolicited_na_joins_solicited_node_and_honours_nodad(lab: Lab) -> None:
    vips = ("fd00::100/64", "fd00::101/64 -nodad")
    extra = "  garp_master_repeat 2\n  garp_master_delay 0\n"
    with Capture.on_switch(lab, keep_frames=True) as cap:
        t_start = time.time()
        conf = keepalived_conf(instance_block(priority=150, vips=vips, extra=extra))
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf))
        assert wait_vip_holders(lab, "fd00::100", ["lb1"]) == ["lb1"], lb1.log()

        def nas() -> list[NeighbourAdvert]:
            out = []
            for _t, frame in cap.frames(t_start):
                na = parse_na(frame)
                if na is not None and str(na.target) == "fd00::100":
                    out.append(na)
            return out

        assert wait_until(lambda: len(nas()) >= 2, 3), lb1.log()
        time.sleep(0.5)
        found = nas()
        assert len(found) == 2, found  # garp_master_repeat 2, no second burst
        for na in found:  # lb1 does not forward IPv6 (a new namespace's default): R=0, as keepalived
            assert (na.router, na.solicited, na.override) == (False, False, True), na
            assert (str(na.dst), na.hop_limit, str(na.src), na.checksum_ok) == ("ff02::1", 255, "fd00::100", True)
            assert na.target_mac == _mac(lab, "lb1") == na.eth_src

        # keepalived adds IPv6 VIPs without DAD; "-nodad" on an entry asks for DAD
        addrs = json.loads(lab.exec("lb1", ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout)[0]["addr_info"]
        by_ip = {a["local"]: a for a in addrs}
        assert by_ip["fd00::100"].get("nodad") is True, by_ip["fd00::100"]
        assert not by_ip["fd00::101"].get("nodad"), by_ip["fd00::101"]

        # the daemon's own Solicited-Node membership, on top of the kernel's for the address it holds
        group = str(ipaddress.IPv6Address("ff02::1:ff00:100"))
        assert _maddr_users(lab, "lb1", group) == 2, lab.exec("lb1", ["ip", "-6", "maddr"]).stdout
        assert lb1.stop() == 0
        assert _maddr_users(lab, "lb1", group) == 0, lab.exec("lb1", ["ip", "-6", "maddr"]).stdout


@pytest.mark.parametrize("forwarding", [0, 1])
def test_na_router_flag_follows_the_interface_ipv6_forwarding(lab: Lab, forwarding: int) -> None:
    """keepalived (vrrp_ndisc.c) sets the unsolicited NA's Router flag from net.ipv6.conf.IF.forwarding."""
    lab.exec("lb1", ["sysctl", "-qw", f"net.ipv6.conf.eth0.forwarding={forwarding}"])
    extra = "  garp_master_repeat 1\n  garp_master_delay 0\n"
    with Capture.on_switch(lab, keep_frames=True) as cap:
        t_start = time.time()
        conf = keepalived_conf(instance_block(priority=150, vips=("fd00::100/64",), extra=extra))
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf))
        assert wait_vip_holders(lab, "fd00::100", ["lb1"]) == ["lb1"], lb1.log()

        def nas() -> list[NeighbourAdvert]:
            return [na for _t, frame in cap.frames(t_start)
                    if (na := parse_na(frame)) is not None and str(na.target) == "fd00::100"]

        assert wait_until(lambda: len(nas()) >= 1, 3), lb1.log()
        assert [na.router for na in nas()] == [bool(forwarding)], nas()
        assert lb1.stop() == 0
