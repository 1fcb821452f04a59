"""A netns_lab topology as a Mininet topology, for ``mn --custom`` and for :mod:`netns_lab.mininet_runner`.

Runs under Debian's system Python (``/usr/bin/python3``, where the ``mininet`` package lives), so it imports
nothing from the project: the topology comes as JSON in netns_lab's topology format
(:meth:`netns_lab.topology.Topology.to_dict`); without one, the lab's default topology (``default-topology.json``
beside this file, which a unit test keeps equal to ``Topology.default()``)::

    mn --custom netns_lab/mininet_topo.py --topo netns_lab --switch lxbr --controller none
    mn --custom netns_lab/mininet_topo.py --topo netns_lab,my-topology.json --switch lxbr --controller none

Each host gets the interface names, addresses, routes and sysctls of the topology (``eth0``, ...), so
keepalived.conf files written for the lab run unchanged in ``mininet> lb1 keepalived ...``.  Switch names carry
``prefix`` (a run's own, so two runs never share a bridge in the root namespace) and a digit, which Mininet needs
to derive a datapath id.  The scenario runner's Mininet executor builds with ``configure=False``: it configures
the hosts itself, with the same code as its namespace lab.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

from mininet.node import Host
from mininet.topo import Topo

# ``mn --custom`` exec()s this file without ``__file__``; the compiled code still knows its file name
HERE = os.path.dirname(os.path.abspath(inspect.getframeinfo(inspect.currentframe()).filename))  # type: ignore[arg-type]
DEFAULT = os.path.join(HERE, "default-topology.json")


def load(path: str | None = None) -> Any:
    """The topology dict from ``path`` (JSON; default: the lab's default topology)."""
    with open(path or DEFAULT) as f:
        return json.load(f)


def switch_name(prefix: str, index: int) -> str:
    return f"{prefix}s{index}"


def port_name(switch: str, index: int) -> str:
    """A switch port: LinuxBridge enslaves the interfaces whose name contains the switch's."""
    return f"{switch}-p{index}"


class LabHost(Host):  # type: ignore[misc]  # Host comes untyped
    """A Mininet host configured as the lab configures its hosts: every address of each link (IPv6 without
    DAD), its routes and sysctls (Mininet's own IP assignment is off)."""

    def config(self, links: Any = (), routes: Any = (), sysctls: Any = None, **params: Any) -> Any:
        r = super().config(**params)
        self.cmd("ip link set lo up")
        for key in ("all", "default"):
            self.cmd(f"sysctl -qw net.ipv6.conf.{key}.disable_ipv6=0 net.ipv6.conf.{key}.accept_dad=0")
        for key, value in (sysctls or {}).items():
            self.cmd(f"sysctl -qw {key}={value}")
        for link in links:
            ifname = link.get("ifname", "eth0")
            self.cmd(f"sysctl -qw net/ipv6/conf/{ifname}/disable_ipv6=0 net/ipv6/conf/{ifname}/accept_dad=0")
            for addr in link.get("addresses", []):
                self.cmd(f"ip addr add {addr} dev {ifname}" + (" nodad" if ":" in addr else ""))
            self.cmd(f"ip link set {ifname} up")
            v4 = [a for a in link.get("addresses", []) if ":" not in a]
            if v4:  # what Mininet's pingall and h1 ping h2 use: the interface's (first) IPv4 address
                intf = self.intf(ifname)
                intf.ip, intf.prefixLen = v4[0].split("/")[0], int(v4[0].split("/")[1])
        for route in routes:
            family = "-6" if ":" in route["gateway"] else "-4"
            self.cmd(f"ip {family} route add {route['dst']} via {route['gateway']}")
        return r


class NetnsLabTopo(Topo):  # type: ignore[misc]  # Topo comes untyped
    """Hosts, switches and links of a netns_lab topology; with ``configure`` (``mn --custom``) the hosts are
    :class:`LabHost`, which give themselves the topology's addresses, routes and sysctls."""

    def build(self, path: str | None = None, prefix: str = "nlmn", data: Any = None, configure: bool = True) -> None:
        data = data if data is not None else load(path)
        self.data = data
        self.prefix = prefix
        switches = {}
        for i, s in enumerate(data["switches"]):
            name = s if isinstance(s, str) else s["name"]
            switches[name] = self.addSwitch(switch_name(prefix, i))
        for h in data["hosts"]:
            name = h if isinstance(h, str) else h["name"]
            spec = {} if isinstance(h, str) else h
            if configure:
                links = [lk for lk in data["links"] if lk["host"] == name]
                self.addHost(name, ip=None, cls=LabHost, links=links, routes=spec.get("routes", []),
                             sysctls=spec.get("sysctls", {}))  # fmt: skip
            else:
                self.addHost(name, ip=None)
        for j, link in enumerate(data["links"]):
            self.addLink(link["host"], switches[link["switch"]], intfName1=link.get("ifname", "eth0"),
                         intfName2=port_name(switches[link["switch"]], j))


topos = {"netns_lab": NetnsLabTopo}
