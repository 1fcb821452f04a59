"""Accept_Mode (RFC 9568 §6.1; keepalived ``accept`` / ``no_accept``): a non-owner Master with accept off
holds its VIPs (it answers ARP for them) but drops the traffic addressed to them; with accept on, a client
reaches a service through the VIP.  The daemon's nftables table is gone after a graceful stop."""

from __future__ import annotations

import json
import sys

import pytest

from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

# run in lb1: a TCP service and a UDP echo on every address (the VIPs included)
_SERVER = r"""
import socket, threading
t = socket.socket(socket.AF_INET6); t.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("::", 8080)); t.listen(8)
u = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); u.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
u.bind(("::", 8081))
def udp():
    while True:
        data, peer = u.recvfrom(100); u.sendto(b"echo:" + data, peer)
threading.Thread(target=udp, daemon=True).start()
print("ready", flush=True)
while True:
    c, _ = t.accept(); c.sendall(b"hello"); c.close()
"""

# run in the client: can it talk TCP and UDP to each address?  -> {"addr": [tcp_ok, udp_ok]}
_CLIENT = r"""
import json, socket, sys
out = {}
for addr in sys.argv[1:]:
    try:
        with socket.create_connection((addr, 8080), timeout=0.7) as c:
            tcp = c.recv(10) == b"hello"
    except OSError:
        tcp = False
    u = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM); u.settimeout(0.7)
    try:
        u.sendto(b"x", (addr, 8081)); udp = u.recvfrom(100)[0] == b"echo:x"
    except OSError:
        udp = False
    out[addr] = [tcp, udp]
print(json.dumps(out))
"""


def _vip_set(lab: Lab, host: str) -> str:
    """The elements of the daemon's IPv4 VIP drop set on ``host`` ("" when the table is absent)."""
    cp = lab.exec(host, ["nft", "list", "set", "inet", "pykeepalived", "vips4"], check=False)
    return cp.stdout if cp.returncode == 0 else ""


def _reach(lab: Lab, *addrs: str) -> dict[str, list[bool]]:
    return dict(json.loads(lab.exec("client", [sys.executable, "-c", _CLIENT, *addrs]).stdout))


def test_no_accept_master_drops_vip_traffic_accept_master_serves_it(lab: Lab) -> None:
    conf = keepalived_conf(
        instance_block("VI_A", vrid=51, priority=150, vips=("10.0.0.100/24",), extra="  accept\n"),
        instance_block("VI_B", vrid=52, priority=150, vips=("10.0.0.101/24",), extra="  no_accept\n"),
        instance_block("VI_6A", vrid=61, priority=150, vips=("fd00::100/64",), extra="  accept\n"),
        instance_block("VI_6B", vrid=62, priority=150, vips=("fd00::101/64",), extra="  no_accept\n"),
    )
    server = lab.start("lb1", [sys.executable, "-c", _SERVER], name="accept-server")
    assert wait_until(lambda: "ready" in server.log_path.read_text(), 5)
    # the service itself works (the first tries may fall in the fresh lab's settling time)
    assert wait_until(lambda: _reach(lab, "10.0.0.11") == {"10.0.0.11": [True, True]}, 5, 0.1)
    lb1 = start_daemon(lab, DaemonSpec("lb1", conf))
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"]) == ["lb1"], lb1.log()
    assert wait_vip_holders(lab, "10.0.0.101", ["lb1"]) == ["lb1"], lb1.log()
    assert wait_vip_holders(lab, "fd00::101", ["lb1"]) == ["lb1"], lb1.log()
    assert wait_until(lambda: {i["state"] for i in lb1.stats()["instances"].values()} == {"MASTER"}, 3)
    got = _reach(lab, "10.0.0.100", "10.0.0.101", "10.0.0.11", "fd00::100", "fd00::101")
    assert got == {"10.0.0.100": [True, True], "10.0.0.101": [False, False], "10.0.0.11": [True, True],
                   "fd00::100": [True, True], "fd00::101": [False, False]}, got
    # the no_accept Master still answers ARP for its VIP (the client resolved it, and to lb1)
    lb1_mac = json.loads(lab.exec("lb1", ["ip", "-j", "link", "show", "eth0"]).stdout)[0]["address"]
    assert lb1_mac in lab.exec("client", ["ip", "neigh", "show", "10.0.0.101"]).stdout
    assert lb1_mac in lab.exec("client", ["ip", "-6", "neigh", "show", "fd00::101"]).stdout  # ND passes the filter
    assert "10.0.0.101" in _vip_set(lab, "lb1") and "10.0.0.100" not in _vip_set(lab, "lb1")
    # a higher-priority router takes VI_B over: lb1, now Backup, has neither the VIP nor the drop rule
    lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(
        instance_block("VI_B", vrid=52, priority=200, vips=("10.0.0.101/24",), extra="  no_accept\n"))))
    assert wait_vip_holders(lab, "10.0.0.101", ["lb2"]) == ["lb2"], lb2.log()
    assert wait_until(lambda: "10.0.0.101" not in _vip_set(lab, "lb1"), 3), _vip_set(lab, "lb1")
    assert "10.0.0.101" in _vip_set(lab, "lb2")
    assert lb2.stop() == 0 and lb1.stop() == 0
    for host in ("lb1", "lb2"):  # each daemon removed its table on exit
        assert "pykeepalived" not in lab.exec(host, ["nft", "list", "tables"]).stdout, lb1.log()
    assert wait_vip_holders(lab, "10.0.0.101", []) == []
    server.stop()
