"""A one-bridge lab with numbered addresses, for tests of the daemon's I/O shell (sockets, addresses, GARP/NA,
VMAC, reflector) that run the modules under test in this process, inside a lab host's namespace
(:func:`netns_lab.nsenter.inside`), as the daemon runs them inside its own.

``with WireNet(["a", "b"]) as net:`` builds hosts a, b with ``eth0`` on switch "lan": host N gets
10.77.0.(11+N)/24 and fd77::(11+N)/64.  It is a thin adapter over :class:`~netns_lab.lab.Lab` (unique names,
always torn down) adding what such tests ask: addresses by host, MACs, neighbour entries, a TCP reachability
probe.
"""

from __future__ import annotations

import json
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from netns_lab.lab import Lab
from netns_lab.nsenter import inside
from netns_lab.process import LabProcess
from netns_lab.topology import Host, Link, Switch, Topology

__all__ = ["WireNet", "ip", "tcp_connects"]

_IP_FREEBIND = 15


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``ip ARGV`` (iproute2) run from here, text captured; use ``-n NETNS`` to act in a lab host."""
    return subprocess.run(["ip", *argv], check=check, capture_output=True, text=True, timeout=20)


@dataclass
class WireNet:
    """Hosts on one switch "lan" (see the module docstring); use as a context manager."""

    hosts: list[str]
    _built: Lab | None = field(default=None, init=False, repr=False)

    @property
    def lab(self) -> Lab:
        """The lab underneath (inside the with-block only)."""
        if self._built is None:
            raise RuntimeError("WireNet used outside its with-block")
        return self._built

    @property
    def prefix(self) -> str:
        return self.lab.prefix

    def ns(self, host: str) -> str:
        return self.lab.netns(host)

    @property
    def switch(self) -> str:
        return self.lab.switch_netns("lan")

    def port(self, host: str) -> str:
        """The bridge port of ``host``'s eth0, inside :attr:`switch`."""
        return self.lab.port_ifname(host)

    def v4(self, host: str) -> str:
        return f"10.77.0.{self.hosts.index(host) + 11}"

    def v6(self, host: str) -> str:
        return f"fd77::{self.hosts.index(host) + 11}"

    def topology(self) -> Topology:
        links = [Link(h, "lan", "eth0", [f"{self.v4(h)}/24", f"{self.v6(h)}/64"]) for h in self.hosts]
        return Topology(name="wire", hosts=[Host(h) for h in self.hosts], switches=[Switch("lan")], links=links)

    def mac(self, host: str, ifname: str = "eth0") -> str:
        out = ip("-n", self.ns(host), "-j", "link", "show", "dev", ifname).stdout
        return str(json.loads(out)[0]["address"])

    def run(self, host: str, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.lab.exec(host, list(argv), check=check, timeout=20)

    @property
    def log_dir(self) -> Path:
        return self.lab.log_dir

    def start(self, host: str, argv: list[str], *, name: str | None = None) -> LabProcess:
        """A real process in ``host`` (killed by the Lab's teardown if the test does not stop it)."""
        return self.lab.start(host, argv, name=name)

    def neigh(self, host: str, address: str, ifname: str = "eth0") -> str | None:
        """The lladdr of ``host``'s neighbour entry for ``address`` (None when absent or without lladdr)."""
        out = ip("-n", self.ns(host), "-j", "neigh", "show", "to", address, "dev", ifname).stdout
        entries = json.loads(out or "[]")
        return str(entries[0]["lladdr"]) if entries and "lladdr" in entries[0] else None

    def __enter__(self) -> WireNet:
        lab = Lab(self.topology())
        lab.__enter__()
        self._built = lab
        return self

    def close(self) -> None:
        if self._built is not None:
            self._built.teardown()

    def __exit__(self, *exc: object) -> None:
        self.close()


def tcp_connects(net: WireNet, *, server: str, client: str, address: str, timeout: float = 2.0) -> bool:
    """True when ``client`` completes a TCP handshake with a listener that ``server`` binds on ``address``.

    The listener binds with IP_FREEBIND so it can be opened before the address exists; the handshake then
    proves the address is really reachable on the wire from the client.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with inside(net.ns(server)):
        listener = socket.socket(family, socket.SOCK_STREAM)
    with listener:
        listener.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
        listener.bind((address, 7777))
        listener.listen(4)
        with inside(net.ns(client)):
            conn = socket.socket(family, socket.SOCK_STREAM)
        with conn:
            conn.settimeout(timeout)
            try:
                conn.connect((address, 7777))
            except OSError:
                return False
            return True
