"""Transport modes of our VRRP process in real namespaces: unicast peers, an IPv6 instance, and use_vmac
(the client's neighbour entry for the VIP is the virtual MAC before and after failover; only the Master
answers ARP for the VIP)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from netns_lab.capture import Capture
from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

VIP = "10.0.0.100"


def test_unicast_peers_elect_and_fail_over_without_multicast(lab: Lab) -> None:
    def conf(priority: int, me: str, peer: str) -> str:
        extra = f"  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n"
        return keepalived_conf(instance_block(priority=priority, extra=extra))

    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf(150, "10.0.0.11", "10.0.0.12")))
        lb2 = start_daemon(lab, DaemonSpec("lb2", conf(100, "10.0.0.12", "10.0.0.11")))
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
        time.sleep(0.5)
        st1, st2 = lb1.stats()["instances"]["VI_1"], lb2.stats()["instances"]["VI_1"]
        assert (st1["state"], st2["state"]) == ("MASTER", "BACKUP")
        assert st2["stats"]["adverts_received"] >= 3  # lb2 hears lb1 ...
        assert not cap.adverts(51)  # ... and nothing was multicast (the bridge sees only flooded frames)
        # SIGHUP (reload) of the unchanged config: the unicast instance carries on unchanged
        lb1.signal(signal.SIGHUP)
        assert wait_until(lambda: "Reload complete" in lb1.log(), 3), lb1.log()
        assert lb1.running() and lb1.state() == "MASTER"
        assert not cap.adverts(51)
        lb1.kill()
        assert wait_vip_holders(lab, VIP, ["lb1", "lb2"]) == ["lb1", "lb2"], lb2.log()  # lb1's VIP dies with it
        assert lb2.state() == "MASTER"
        assert not cap.adverts(51)


@pytest.mark.parametrize("use_vmac", [False, True], ids=["plain", "vmac"])
def test_ipv6_instance(lab: Lab, use_vmac: bool) -> None:
    vip6 = "fd00::100"
    extra = "  use_vmac\n" if use_vmac else ""

    def conf6(priority: int) -> str:
        return keepalived_conf(instance_block(priority=priority, vips=(f"{vip6}/64",), extra=extra))

    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf6(150)))
        lb2 = start_daemon(lab, DaemonSpec("lb2", conf6(100)))
        assert wait_vip_holders(lab, vip6, ["lb1"]) == ["lb1"], lb1.log()
        ads = wait_until(lambda: [a for a in cap.adverts(51) if a.t > t0 and a.priority == 150][:3], 5)
        assert ads, lb1.log()
        a = ads[0]
        assert a.family == 6 and a.dst == "ff02::12" and a.src.startswith("fe80::") and a.ttl == 255
        assert a.version == 3 and a.addresses == (vip6,)
        if use_vmac:  # RFC 9568 §7.3 IPv6 virtual MAC, and a link-local of the VMAC's own
            assert a.src_mac == "00:00:5e:00:02:33"
            assert a.src in lab.exec("lb1", ["ip", "-6", "addr", "show", "dev", "vrrp6.51"]).stdout
        time.sleep(0.5)
        assert lb2.state() == "BACKUP"  # it hears lb1 (through its parent interface)
        t = time.time()
        lb1.kill()
        new = wait_until(lambda: [x for x in cap.adverts(51) if x.t > t and x.priority == 100], 5)
        assert new and new[0].src.startswith("fe80::") and new[0].src != a.src, lb2.log()
        assert "lb2" in wait_vip_holders(lab, vip6, ["lb1", "lb2"])
        assert lb2.state() == "MASTER"


# ARP probe run inside the client namespace: who answers "who has VIP"?  (no arping on the CI machines)
_ARP_PROBE = r"""
import json, socket, struct, sys, time, ipaddress
ifname, my_ip, target = sys.argv[1], sys.argv[2], sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((ifname, 0))
mac = s.getsockname()[4]
arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + ipaddress.IPv4Address(my_ip).packed + bytes(6) \
    + ipaddress.IPv4Address(target).packed
s.send(b"\xff" * 6 + mac + b"\x08\x06" + arp)
s.settimeout(0.1)
replies = []
end = time.time() + 0.6
while time.time() < end:
    try:
        f = s.recv(100)
    except socket.timeout:
        continue
    if len(f) >= 42 and f[20:22] == b"\x00\x02" and f[28:32] == ipaddress.IPv4Address(target).packed:
        replies.append({"eth_src": f[6:12].hex(":"), "sha": f[22:28].hex(":")})
print(json.dumps(replies))
"""


def _arp_replies(lab: Lab) -> list[dict[str, str]]:
    out = lab.exec("client", [sys.executable, "-c", _ARP_PROBE, "eth0", "10.0.0.10", VIP]).stdout
    return list(json.loads(out))


_UDP_POKE = "import socket,sys,time; s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.sendto(b'x',(sys.argv[1],9))"


def _client_neigh(lab: Lab) -> str:
    """Make the client resolve the VIP (a UDP datagram: no ping on the CI machines); its lladdr."""
    lab.exec("client", [sys.executable, "-c", _UDP_POKE, VIP])

    def entry() -> str | None:
        out = lab.exec("client", ["ip", "neigh", "show", VIP]).stdout
        return out.split("lladdr")[1].split()[0] if "lladdr" in out else None

    return str(wait_until(entry, 2))


def test_vmac_neighbour_entry_is_virtual_and_survives_failover(lab: Lab) -> None:
    vmac = "00:00:5e:00:01:33"  # VRID 51
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150, extra="  use_vmac\n"))))
        lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=100, extra="  use_vmac\n"))))
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
        ad = wait_until(lambda: [a for a in cap.adverts(51) if a.t > t0 and a.priority == 150], 5)
        assert ad and ad[-1].src_mac == vmac and ad[-1].src == "10.0.0.11", lb1.log()
        assert "vrrp.51" in lab.exec("lb1", ["ip", "-o", "addr", "show", "dev", "vrrp.51"]).stdout
        assert lb2.state() == "BACKUP"

        assert _client_neigh(lab) == vmac
        replies = _arp_replies(lab)
        assert replies and {r["sha"] for r in replies} == {vmac}, replies  # lb2 (Backup) stays silent

        t = time.time()
        assert lb1.stop() == 0
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"], lb2.log()
        new = wait_until(lambda: [a for a in cap.adverts(51) if a.t > t and a.priority == 100], 5)
        assert new and new[-1].src_mac == vmac and new[-1].src == "10.0.0.12"
        assert _client_neigh(lab) == vmac
        replies = _arp_replies(lab)
        assert replies and {r["sha"] for r in replies} == {vmac}, replies
        # graceful stop removed lb1's VMAC: nothing is left on the host
        assert "vrrp.51" not in lab.exec("lb1", ["ip", "-o", "link"]).stdout


def _mac(lab: Lab, host: str, ifname: str = "eth0") -> str:
    return str(json.loads(lab.exec(host, ["ip", "-j", "link", "show", ifname]).stdout)[0]["address"])


def test_gratuitous_arp_moves_the_clients_neighbour_entry(lab: Lab) -> None:
    now = "  garp_master_delay 0\n"
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150, extra=now))))
    lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=100, extra=now))))
    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
    assert _client_neigh(lab) == _mac(lab, "lb1")
    time.sleep(1.1)  # the kernel ignores ARP updates to an entry changed less than locktime (1 s) ago
    assert lb1.stop() == 0
    assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"], lb2.log()

    # the client sends nothing: only lb2's gratuitous ARPs can have moved its entry
    def moved() -> bool:
        out = lab.exec("client", ["ip", "neigh", "show", VIP]).stdout
        return _mac(lab, "lb2") in out

    assert wait_until(moved, 3), lab.exec("client", ["ip", "neigh"]).stdout


def test_without_n_it_daemonises_and_sigterm_via_pid_file_cleans_up(lab: Lab) -> None:
    run = lab.log_dir / "bg"
    run.mkdir()
    conf = run / "keepalived.conf"
    conf.write_text(keepalived_conf(instance_block(priority=150)))
    pid_file = run / "vrrp.pid"
    argv = [sys.executable, "-m", "pykeepalived.daemon", "-P", "-f", str(conf), "-g", str(run / "ka.log"),
            "-p", str(run / "main.pid"), "-r", str(pid_file), "--dump-dir", str(run)]
    cp = subprocess.run(["ip", "netns", "exec", lab.netns("lb1"), *argv], capture_output=True, text=True,
                        timeout=30, check=False)
    assert cp.returncode == 0, cp.stderr  # the foreground part returns at once
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip().isdigit(), 5)
    main_pid = int((run / "main.pid").read_text())
    assert main_pid != int(pid_file.read_text())  # a parent and its VRRP child
    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"]
    log_text = (run / "ka_vrrp.log").read_text()  # keepalived's per-process log file suffix
    assert "Entering MASTER STATE" in log_text
    assert "Starting VRRP child process, pid=" in (run / "ka.log").read_text()  # the parent's own file
    os.kill(main_pid, signal.SIGTERM)  # as systemd stops it: the main pid
    assert wait_until(lambda: not pid_file.exists(), 5), (run / "ka_vrrp.log").read_text()
    assert wait_vip_holders(lab, VIP, []) == []
    assert wait_until(lambda: not (run / "main.pid").exists(), 5)
    assert "Stopped Keepalived v2.2.7" in (run / "ka.log").read_text()


def test_virtual_routes_and_rules_follow_mastership(lab: Lab) -> None:
    extra = ("  virtual_routes {\n    192.0.2.0/24 via 10.0.0.1\n    blackhole 198.51.100.0/24\n  }\n"
             "  virtual_rules {\n    from 10.0.0.100 table 100 priority 100\n  }\n")
    lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150, extra=extra))))

    def installed() -> tuple[str, str]:
        routes = lab.exec("lb1", ["ip", "route", "show", "proto", "keepalived"]).stdout
        rules = lab.exec("lb1", ["ip", "rule", "show"]).stdout
        return routes, rules

    assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], lb1.log()
    routes, rules = installed()
    assert "192.0.2.0/24 via 10.0.0.1 dev eth0" in routes and "blackhole 198.51.100.0/24" in routes, routes
    assert "100:\tfrom 10.0.0.100 lookup 100" in rules, rules
    assert lb1.stop() == 0
    routes, rules = installed()
    assert routes.strip() == "" and "lookup 100" not in rules, (routes, rules)
