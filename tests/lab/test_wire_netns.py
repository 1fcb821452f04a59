"""The WIRE lab's namespaces (netns_lab.wirenet) clean up after themselves."""

from __future__ import annotations

import pytest

from netns_lab.wirenet import WireNet, ip, tcp_connects


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
