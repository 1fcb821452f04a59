"""Malformed and hostile VRRP packets injected on the wire are dropped and counted, and change nothing.

Every injected packet claims priority 254, so had any been accepted the Master (priority 150) would have
stepped down.  The last packet is a *valid* priority-254 advert: it must make the Master step down, which
proves the injection path reaches the daemons (otherwise "state did not change" would prove nothing).
"""

from __future__ import annotations

import ipaddress
import json
import sys
import time

import pytest

from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon
from netns_lab.lab import Lab
from netns_lab.sim import Simulation
from netns_lab.waiting import wait_until
from vrrp.core.packet import Advertisement, encode

pytestmark = pytest.mark.lab

# Runs in the client namespace: build each packet with the project's codec, then spoil it as asked, and send
# it with a hand-made IPv4 header (IP_HDRINCL) so the TTL can be anything.
_INJECT = r"""
import json, socket, struct, sys, ipaddress
from vrrp.core.packet import Advertisement, encode, pass_auth_data
specs = json.loads(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, ipaddress.IPv4Address("10.0.0.10").packed)
src, dst = "10.0.0.10", "224.0.0.18"
for spec in specs:
    v = spec["version"]
    auth = pass_auth_data(spec.get("auth", "")) if v == 2 else b""
    adv = Advertisement(v, spec["vrid"], spec.get("priority", 254), [ipaddress.IPv4Address(spec["vip"])],
                        spec["interval_cs"], auth_type=1 if v == 2 else 0, auth_data=auth)
    payload = bytearray(encode(adv, family=4, src=src, dst=dst, checksum_form="rfc5798"))
    if spec.get("bad_checksum"):
        payload[6] ^= 0xFF
    if spec.get("short"):
        payload = payload[:6]
    ttl = spec.get("ttl", 255)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(payload), 0, 0, ttl, 112, 0,
                      ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    s.sendto(hdr + bytes(payload), (dst, 0))
"""


def _inject(lab: Lab, specs: list[dict[str, object]]) -> None:
    lab.exec("client", [sys.executable, "-c", _INJECT, json.dumps(specs)], timeout=30)


def test_malformed_and_hostile_packets_are_dropped_and_counted(lab: Lab) -> None:
    v3 = instance_block("VI_3", vrid=51, priority=150, advert_int=0.1)
    v2 = instance_block("VI_2", vrid=60, priority=150, advert_int=1, version=2, vips=("10.0.0.160/24",),
                        extra="  authentication {\n    auth_type PASS\n    auth_pass secret\n  }\n")
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(v3, v2)))
    vi3 = instance_block("VI_3", vrid=51, priority=100, advert_int=0.1)
    lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(vi3)))
    assert wait_until(lambda: lb1.stats()["instances"]["VI_2"]["state"] == "MASTER", 8), lb1.log()
    assert lb1.state("VI_3") == "MASTER" and lb2.state("VI_3") == "BACKUP"
    before = lb1.stats()

    base3 = {"version": 3, "vrid": 51, "vip": "10.0.0.100", "interval_cs": 10}
    base2 = {"version": 2, "vrid": 60, "vip": "10.0.0.160", "interval_cs": 100, "auth": "secret"}
    _inject(lab, [
        {**base3, "ttl": 254},
        {**base3, "bad_checksum": True},
        {**base3, "vrid": 99},
        {**base3, "short": True},
        {**base2, "auth": "wrong"},
        {**base2, "ttl": 254},
    ])
    time.sleep(0.5)
    after = lb1.stats()
    for name in ("VI_3", "VI_2"):
        inst = after["instances"][name]
        assert inst["state"] == "MASTER", lb1.log()
        assert inst["stats"]["master_transitions"] == before["instances"][name]["stats"]["master_transitions"]
        assert inst["effective_priority"] == 150
    def new_discards(name: str) -> dict[str, int]:
        old = before["instances"][name]["stats"]["discards"]
        return {k: v - old.get(k, 0) for k, v in after["instances"][name]["stats"]["discards"].items()
                if v != old.get(k, 0)}

    assert new_discards("VI_3") == {"ttl": 1, "checksum": 1}
    assert new_discards("VI_2") == {"auth": 1, "ttl": 1}
    assert after["daemon"]["unknown_vrid"] >= 1 and after["daemon"]["short"] >= 1, after["daemon"]
    received = after["instances"]["VI_3"]["stats"]["adverts_received"]
    assert received == before["instances"]["VI_3"]["stats"]["adverts_received"]  # nothing injected counted as valid
    # the Backup saw the same garbage and stayed Backup
    b = lb2.stats()
    assert b["instances"]["VI_3"]["state"] == "BACKUP"
    assert b["instances"]["VI_3"]["stats"]["discards"].get("checksum") == 1
    assert b["daemon"]["unknown_vrid"] >= 1

    # control: the same path with a valid priority-254 advert does move the Master
    _inject(lab, [dict(base2)])
    assert wait_until(lambda: "(VI_2) Entering BACKUP STATE" in lb1.log(), 3), lb1.log()
    assert [t.reason for t in lb1.transitions() if t.instance == "VI_2"][-1] == "priority"


def test_a_packet_shorter_than_the_header_is_counted_alike_by_the_daemon_and_the_simulator(lab: Lab) -> None:
    """Both drive vrrp.core.host.Host, so both count a runt under the host's ``length`` reason (and never
    read a VRID out of it)."""
    vi3 = instance_block("VI_3", vrid=51, priority=150, advert_int=0.1)
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(vi3)))
    assert wait_until(lambda: lb1.state("VI_3") == "MASTER", 5), lb1.log()
    before = lb1.stats()["daemon"]["discards"]
    _inject(lab, [{"version": 3, "vrid": 51, "vip": "10.0.0.100", "interval_cs": 10, "short": True}])

    def new() -> dict[str, int]:
        now = lb1.stats()["daemon"]["discards"]
        return {k: v - before.get(k, 0) for k, v in now.items() if v != before.get(k, 0)}

    assert wait_until(new, 3), lb1.stats()
    daemon_counted = new()

    # the same bytes (what _INJECT sends for "short") on a simulated LAN with the same instance
    sim = Simulation(seed=1)
    sim.add_router("lb1", priority=150, address="10.0.0.11", vips=["10.0.0.100"], vrid=51, advert_int=0.1)
    sim.start()
    sim.run_for(1)
    adv = Advertisement(3, 51, 254, [ipaddress.IPv4Address("10.0.0.100")], 10)
    runt = encode(adv, family=4, src="10.0.0.10", dst="224.0.0.18", checksum_form="rfc5798")[:6]
    sim.inject(runt, src="10.0.0.10")
    assert daemon_counted == sim.nodes["lb1"].node_discards == {"length": 1}
    assert lb1.state("VI_3") == "MASTER" and sim.masters() == ["lb1"]
    assert lb1.stats()["daemon"]["short"] >= 1  # the dump's earlier name for the same counter


def test_master_receiving_a_lower_priority_advert_runs_notify_master_rx_lower_pri(lab: Lab) -> None:
    marker = lab.log_dir / "rx-lower"
    script = lab.log_dir / "rx_lower.sh"
    script.write_text(f"#!/bin/sh\necho rx-lower >> {marker}\n")
    script.chmod(0o755)
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150,
                                                         extra=f"  notify_master_rx_lower_pri {script}\n"))))
    assert wait_until(lambda: lb1.stats()["instances"]["VI_1"]["state"] == "MASTER", 5), lb1.log()
    time.sleep(0.3)
    assert not marker.exists()  # alone on the LAN: nobody advertised lower
    _inject(lab, [{"version": 3, "vrid": 51, "vip": "10.0.0.100", "interval_cs": 10, "priority": 50}])
    assert wait_until(marker.exists, 3), lb1.log()
    assert marker.read_text() == "rx-lower\n"
    assert "(VI_1) Received advert from 10.0.0.10 with lower priority 50, ours " in lb1.log()
    assert lb1.state() == "MASTER"
    # a bad (TTL 254) lower-priority advert is dropped before it can notify
    _inject(lab, [{"version": 3, "vrid": 51, "vip": "10.0.0.100", "interval_cs": 10, "priority": 50, "ttl": 254}])
    time.sleep(0.4)
    assert marker.read_text() == "rx-lower\n"
