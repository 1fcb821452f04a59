"""The client's view of a VIP: who answers ARP (IPv4) / neighbour solicitation (IPv6) for it, and which MAC
the client's own neighbour cache holds for it.

The netlink view (:class:`~netns_lab.lab_history.VipWatcher`: which router has the address configured) says
who *should* get the traffic; the client sends its packets to whatever MAC its neighbour cache holds. When the
two disagree (a master that lost the VIP is still in the client's cache because the new master's gratuitous
ARP never reached it or came too early) the clients' requests go to a router that drops them until the cache
entry is probed and replaced, seconds later. This observer records both halves of the client's view:

* **answerers**: every ``interval`` s, from the client's interface, an ARP request for each IPv4 VIP and a
  neighbour solicitation for each IPv6 VIP, sent from a made-up, locally administered MAC (``02:6e:6c:...``)
  and, for ARP, the unspecified sender address 0.0.0.0 (an RFC 5227 probe). The routers answer that MAC, not
  the client's, so the client's kernel drops the answers (they are for another host) and its neighbour cache is
  left exactly as the workload made it; nor does any router learn a wrong MAC for the client. The answers are
  read with a packet socket (which sees frames for other hosts on a veth).
* **neighbour**: the client kernel's neighbour entry for the VIP (any state with a link-layer address).

MACs are named by the host whose interface has them. Samples are recorded when the view changes, as
:class:`~netns_lab.history.ClientVipView` records.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import select
import socket
import struct
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from netns_lab.capture import open_packet_socket
from netns_lab.nsenter import inside
from vrrp.io.garp import icmpv6_checksum, mac_str, parse_arp, parse_na, solicited_node_group

if TYPE_CHECKING:
    from netns_lab.lab import Lab
    from netns_lab.scenario import Scenario

__all__ = ["ClientVipWatcher", "arp_probe", "client_watchers_for", "host_macs", "ns_probe"]

_ETH_P_ARP = 0x0806
_ETH_P_IPV6 = 0x86DD
_ICMPV6_NS = 135
_ND_OPT_SOURCE_LL_ADDR = 1


def arp_probe(vip: ipaddress.IPv4Address, mac: bytes) -> bytes:
    """An ARP request for ``vip`` from ``mac`` with sender address 0.0.0.0 (RFC 5227 §2.1.1: no one caches it)."""
    eth = b"\xff" * 6 + mac + struct.pack("!H", _ETH_P_ARP)
    return eth + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + bytes(4) + bytes(6) + vip.packed


def ns_probe(vip: ipaddress.IPv6Address, mac: bytes, src: ipaddress.IPv6Address) -> bytes:
    """A neighbour solicitation for ``vip`` (RFC 4861 §4.3) from link-local ``src`` at ``mac``, to the VIP's
    solicited-node group."""
    group = solicited_node_group(vip)
    body = bytes(4) + vip.packed + struct.pack("!BB", _ND_OPT_SOURCE_LL_ADDR, 1) + mac
    checksum = icmpv6_checksum(src, group, struct.pack("!BBH", _ICMPV6_NS, 0, 0) + body)
    icmp = struct.pack("!BBH", _ICMPV6_NS, 0, checksum) + body
    ip6 = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + src.packed + group.packed
    return b"\x33\x33" + group.packed[-4:] + mac + struct.pack("!H", _ETH_P_IPV6) + ip6 + icmp


def host_macs(lab: Lab, hosts: Iterable[str] | None = None) -> dict[str, str]:
    """MAC (lower-case ``aa:bb:...``) -> host, for every interface of ``hosts`` (default: all)."""
    out: dict[str, str] = {}
    for host in lab.hosts if hosts is None else hosts:
        for link in json.loads(lab.exec(host, ["ip", "-j", "link", "show"]).stdout):
            mac = str(link.get("address", "")).lower()
            if mac and mac != "00:00:00:00:00:00":
                out.setdefault(mac, host)
    return out


class ClientVipWatcher:
    """From ``client``'s ``ifname``, every ``interval`` s: who answers for each VIP, and the client's
    neighbour entry for it. ``samples`` holds (epoch seconds, vip, answerers, neighbour) per change, names
    from ``macs`` (an unknown MAC is kept as the MAC itself).

    ``with ClientVipWatcher(lab, "client", ["10.0.0.100"], host_macs(lab)) as w: ...``
    """

    def __init__(
        self,
        lab: Lab,
        client: str,
        vips: Iterable[str],
        macs: Mapping[str, str],
        *,
        ifname: str = "eth0",
        interval: float = 0.1,
        wait: float = 0.08,
    ) -> None:
        self.lab = lab
        self.client = client
        self.vips = [ipaddress.ip_address(v) for v in vips]
        self.macs = dict(macs)
        self.ifname = ifname
        self.interval = interval
        self.wait = wait
        self.samples: list[tuple[float, str, tuple[str, ...], str | None]] = []
        self._mac = b"\x02\x6e\x6c" + secrets.token_bytes(3)  # locally administered, unicast: ours alone
        self._src6 = ipaddress.IPv6Address(b"\xfe\x80" + bytes(6) + b"\x00\x6e\x6c\xff\xfe" + self._mac[3:])
        self._last: dict[str, tuple[tuple[str, ...], str | None]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"netns-lab-arp-{client}", daemon=True)
        self._sock: socket.socket | None = None
        self._ipr: object | None = None

    def _name(self, mac: bytes | str) -> str:
        text = mac_str(mac) if isinstance(mac, bytes) else mac.lower()
        return self.macs.get(text, text)

    def _neighbours(self) -> dict[str, str]:
        """The client's neighbour cache: VIP -> MAC (entries with a link-layer address only)."""
        from pyroute2 import IPRoute

        ipr = self._ipr
        assert isinstance(ipr, IPRoute)
        out: dict[str, str] = {}
        for msg in ipr.get_neighbours():
            dst, lladdr = msg.get_attr("NDA_DST"), msg.get_attr("NDA_LLADDR")
            if dst is not None and lladdr:
                out[str(ipaddress.ip_address(dst))] = str(lladdr)
        return out

    def _round(self) -> None:
        sock = self._sock
        assert sock is not None
        t = time.time()
        for vip in self.vips:
            if isinstance(vip, ipaddress.IPv4Address):
                sock.send(arp_probe(vip, self._mac))
            else:
                sock.send(ns_probe(vip, self._mac, self._src6))
        answers: dict[str, set[str]] = {str(v): set() for v in self.vips}
        deadline = time.monotonic() + self.wait
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([sock], [], [], left)
            if not ready:
                break
            frame = sock.recv(2048)
            if frame[0:6] != self._mac:
                continue
            arp = parse_arp(frame)
            if arp is not None and arp.op == 2 and str(arp.sender_ip) in answers:
                answers[str(arp.sender_ip)].add(self._name(arp.sender_mac))
                continue
            na = parse_na(frame)
            if na is not None and str(na.target) in answers:
                answers[str(na.target)].add(self._name(na.target_mac or na.eth_src))
        cache = self._neighbours()
        for addr, who in answers.items():
            neighbour = self._name(cache[addr]) if addr in cache else None
            view = (tuple(sorted(who)), neighbour)
            if self._last.get(addr) != view:
                self._last[addr] = view
                self.samples.append((t, addr, view[0], view[1]))

    def _run(self) -> None:
        from pyroute2 import IPRoute

        # the thread lives in the client's namespace: pyroute2 opens its netlink socket on first use
        with inside(self.lab.netns(self.client)), IPRoute() as ipr:
            self._ipr = ipr
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    self._round()
                except OSError:
                    if self._stop.is_set() or not self.lab.active:
                        return
                    raise
                self._stop.wait(max(0.0, self.interval - (time.monotonic() - started)))

    def __enter__(self) -> ClientVipWatcher:
        self._sock = open_packet_socket(self.lab.netns(self.client), self.ifname)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._sock = None


def client_watchers_for(scenario: Scenario, lab: Lab, vips: Iterable[str]) -> list[ClientVipWatcher]:
    """One observer (not started) per workload client of ``scenario``, for the VIPs on that client's own links
    (those it resolves itself; a VIP behind a router is that router's business)."""
    out: list[ClientVipWatcher] = []
    macs: dict[str, str] | None = None
    for client in dict.fromkeys(w.client for w in scenario.workload):
        for link in (lk for lk in scenario.topology.links if lk.host == client):
            nets = [ipaddress.ip_interface(a).network for a in link.addresses]
            on_link = [v for v in vips if any(ipaddress.ip_address(v) in n for n in nets)]
            if on_link:
                macs = host_macs(lab) if macs is None else macs
                out.append(ClientVipWatcher(lab, client, on_link, macs, ifname=link.ifname))
    return out
