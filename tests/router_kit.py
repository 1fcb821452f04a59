"""Shared set-up for the sans-IO router's unit and conformance tests: one router on 10.0.0.2 with one VIP,
brought to Backup or Master by events alone (explicit ``now`` in µs)."""

from __future__ import annotations

from ipaddress import IPv4Address

from vrrp.core.config import RouterConfig
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State

ME = IPv4Address("10.0.0.2")
VIP = IPv4Address("10.0.0.100")
S = 1_000_000  # one second in the router's µs


def config(**kw: object) -> RouterConfig:
    """VRID 1 on ME with VIP; keyword arguments override any RouterConfig field."""
    settings: dict[str, object] = {"vrid": 1, "primary_address": ME, "virtual_ipaddress": (VIP,)}
    settings.update(kw)
    return RouterConfig(**settings)  # type: ignore[arg-type]


def backup(**kw: object) -> VirtualRouter:
    """A started non-owner router: Backup, its down timer running."""
    r = VirtualRouter(config(**kw))
    r.start(0)
    assert r.state is State.BACKUP
    return r


def master(**kw: object) -> VirtualRouter:
    """A router that became Master by its down timer expiring (nobody else advertised)."""
    r = backup(**kw)
    r.handle_timer(r.get_timer() or 0)
    assert r.state is State.MASTER
    return r
