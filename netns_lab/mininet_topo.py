"""A netns_lab topology as a Mininet topology, for ``mn --custom`` and for :mod:`netns_lab.mininet_runner`.

Runs under Debian's system Python (``/usr/bin/python3``, where the ``mininet`` package lives), so it imports
nothing from the project: the topology comes as JSON in netns_lab's topology format
(:meth:`netns_lab.topology.Topology.to_dict`); without one, the lab's default topology (``default-topology.json``
beside this file, which a unit test keeps equal to ``Topology.default()``)::

    mn --custom netns_lab/mininet_topo.py --topo netns_lab --switch lxbr --controller none
    mn --custom netns_lab/mininet_topo.py --topo netns_lab,my-topology.json --switch lxbr --controller none

Each host gets the interface names and addresses of the topology (``eth0``, ...), so keepalived.conf files
written for the lab run unchanged.  Switch names carry ``prefix`` (a run's own, so two runs never share a bridge
in the root namespace) and a digit, which Mininet needs to derive a datapath id.
"""

from __future__ import annotations

import inspect
import json
import os
from typing import Any

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


class NetnsLabTopo(Topo):  # type: ignore[misc]  # Topo comes untyped
    """Hosts, switches and links of a netns_lab topology (addresses are set after the build: see
    :func:`configure`)."""

    def build(self, path: str | None = None, prefix: str = "nlmn", data: Any = None) -> None:
        data = data if data is not None else load(path)
        self.data = data
        self.prefix = prefix
        switches = {}
        for i, s in enumerate(data["switches"]):
            name = s if isinstance(s, str) else s["name"]
            switches[name] = self.addSwitch(switch_name(prefix, i))
        for h in data["hosts"]:
            name = h if isinstance(h, str) else h["name"]
            self.addHost(name, ip=None)
        for j, link in enumerate(data["links"]):
            self.addLink(link["host"], switches[link["switch"]], intfName1=link.get("ifname", "eth0"),
                         intfName2=port_name(switches[link["switch"]], j))


def configure(net: Any, data: Any) -> None:
    """Give each host the topology's addresses (Mininet's own IP assignment is off) and bring loopback up."""
    for host in net.hosts:
        host.cmd("ip link set lo up")
        host.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=0")
    for link in data["links"]:
        host = net.get(link["host"])
        ifname = link.get("ifname", "eth0")
        for addr in link.get("addresses", []):
            host.cmd(f"ip addr add {addr} dev {ifname}")
        host.cmd(f"ip link set {ifname} up")


topos = {"netns_lab": NetnsLabTopo}
