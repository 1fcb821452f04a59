"""Namespaces for the WIRE lab tests (on netns_lab's Lab), plus a test that they clean up after themselves.

N hosts, each with ``eth0`` on one bridge, named with the Lab's unique prefix so parallel runs never
collide, and removed on exit even when the test fails. ``inside(ns)`` moves *this thread* into a
namespace for the duration of a ``with`` block, which is how the tests open raw sockets, write sysctls
and create AsyncIPRoute sockets in a lab host: the I/O modules under test are namespace-agnostic (the
daemon runs inside its namespace), exactly as in production.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyroute2 import netns as pr_netns

from netns_lab.lab import Lab
from netns_lab.process import LabProcess
from netns_lab.topology import Host, Link, Switch, Topology


def tcp_connects(net: WireNet, *, server: str, client: str, address: str, timeout: float = 2.0) -> bool:
    """True when ``client`` completes a TCP handshake with a listener that ``server`` binds on ``address``.

    The listener binds with IP_FREEBIND so it can be opened before the address exists; the handshake then
    proves the address is really reachable on the wire from the client.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with inside(net.ns(server)):
        listener = socket.socket(family, socket.SOCK_STREAM)
    with listener:
        listener.setsockopt(socket.IPPROTO_IP, 15, 1)  # IP_FREEBIND
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


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *argv], check=check, capture_output=True, text=True, timeout=20)


@contextlib.contextmanager
def inside(ns: str) -> Iterator[None]:
    """Run the block in network namespace ``ns`` (this thread only), always returning to where we were.

    Never creates a namespace (pyroute2's pushns would, silently, for a name that is gone): a missing one
    is FileNotFoundError.
    """
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        pr_netns.setns(ns, flags=0)
        try:
            yield
        finally:
            pr_netns.setns(home, flags=0)
    finally:
        os.close(home)


@dataclass
class WireNet:
    """Hosts on one switch "lan", built by netns_lab's Lab: host N gets 10.77.0.(11+N)/24 and fd77::(11+N)/64.

    A thin adapter over :class:`netns_lab.lab.Lab` (which names everything with a unique prefix and always
    tears down) that adds what these tests need: addresses by host, MACs, neighbour entries.
    """

    hosts: list[str]
    lab: Lab | None = field(default=None, init=False)

    @property
    def _lab(self) -> Lab:
        if self.lab is None:
            raise RuntimeError("WireNet used outside its with-block")
        return self.lab

    @property
    def prefix(self) -> str:
        return self._lab.prefix

    def ns(self, host: str) -> str:
        return self._lab.netns(host)

    @property
    def switch(self) -> str:
        return self._lab.switch_netns("lan")

    def port(self, host: str) -> str:
        """The bridge port of ``host``'s eth0, inside :attr:`switch`."""
        return self._lab.port_ifname(host)

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
        return self._lab.exec(host, list(argv), check=check, timeout=20)

    @property
    def log_dir(self) -> Path:
        return self._lab.log_dir

    def start(self, host: str, argv: list[str], *, name: str | None = None) -> LabProcess:
        """A real process in ``host`` (killed by the Lab's teardown if the test does not stop it)."""
        return self._lab.start(host, argv, name=name)

    def neigh(self, host: str, address: str, ifname: str = "eth0") -> str | None:
        """The lladdr of ``host``'s neighbour entry for ``address`` (None when absent or without lladdr)."""
        out = ip("-n", self.ns(host), "-j", "neigh", "show", "to", address, "dev", ifname).stdout
        entries = json.loads(out or "[]")
        return str(entries[0]["lladdr"]) if entries and "lladdr" in entries[0] else None

    def __enter__(self) -> WireNet:
        lab = Lab(self.topology())
        lab.__enter__()
        self.lab = lab
        return self

    def close(self) -> None:
        if self.lab is not None:
            self.lab.teardown()

    def __exit__(self, *exc: object) -> None:
        self.close()


@pytest.mark.lab
def test_wire_net_builds_and_removes_everything() -> None:
    net = WireNet(["a", "b"])
    with net:
        names = set(ip("netns", "list").stdout.split())
        assert {net.ns("a"), net.ns("b"), net.switch} <= names
        assert tcp_connects(net, server="b", client="a", address=net.v4("b"))
        assert not tcp_connects(net, server="b", client="a", address="10.77.0.99", timeout=0.3)
    names = {line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()}
    assert not any(name.startswith(net.prefix) for name in names)
