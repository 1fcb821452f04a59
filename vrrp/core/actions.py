"""Actions the sans-IO virtual router returns; the I/O shell (or the simulator) carries them out in order.

They are plain frozen dataclasses so tests can compare them and the simulator can record them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vrrp.core.packet import AUTH_NONE, Advertisement, ChecksumForm, Reason
from vrrp.core.specs import VirtualAddress, VirtualRoute, VirtualRule
from vrrp.core.state import State, TransitionReason

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class SendAdvertisement:
    """Send one advertisement.  ``priority`` 0 announces that we stop being Master (RFC 9568 §6.4.3)."""

    vrid: int
    priority: int
    interval_cs: int
    addresses: tuple[IPAddress, ...]
    version: int
    auth_type: int = AUTH_NONE
    auth_data: bytes = bytes(8)
    checksum_form: ChecksumForm = "rfc5798"

    def advertisement(self) -> Advertisement:
        """The codec object to pass to ``vrrp.core.packet.encode`` (with ``checksum_form=self.checksum_form``)."""
        if self.version == 2:
            return Advertisement(
                2,
                self.vrid,
                self.priority,
                list(self.addresses),
                self.interval_cs,
                auth_type=self.auth_type,
                auth_data=self.auth_data,
            )
        return Advertisement(3, self.vrid, self.priority, list(self.addresses), self.interval_cs)


@dataclass(frozen=True)
class AddVips:
    """Install the VIPs.  ``accept`` False asks the shell to drop traffic addressed to them (Accept_Mode).

    ``addresses`` is the protocol's VIP list; ``install`` / ``routes`` / ``rules`` are what a host installs for
    them (``virtual_ipaddress`` and ``virtual_ipaddress_excluded`` entries with their options, ``virtual_routes``,
    ``virtual_rules``), in that order, taken from ``RouterConfig``: the shell needs nothing else.  The simulator
    configures none of them and models only ``addresses``.
    """

    addresses: tuple[IPAddress, ...]
    accept: bool
    install: tuple[VirtualAddress, ...] = ()
    routes: tuple[VirtualRoute, ...] = ()
    rules: tuple[VirtualRule, ...] = ()


@dataclass(frozen=True)
class RemoveVips:
    """Remove the VIPs (the shell removes rules, then routes, then addresses: the reverse of ``AddVips``)."""

    addresses: tuple[IPAddress, ...]
    install: tuple[VirtualAddress, ...] = ()
    routes: tuple[VirtualRoute, ...] = ()
    rules: tuple[VirtualRule, ...] = ()


@dataclass(frozen=True)
class SendGratuitous:
    """Gratuitous ARP (IPv4) or unsolicited NA with R=1,S=0,O=1 (IPv6) for each address: the whole schedule.

    ``repeat`` rounds ``interval_us`` apart (keepalived ``vrrp_garp_interval`` / ``vrrp_gna_interval``); when
    ``second_burst_us`` > 0 another ``repeat`` rounds follow that much later (``garp_master_delay``); when
    ``refresh_us`` > 0, ``refresh_repeat`` rounds every ``refresh_us`` while the instance stays Master
    (``garp_master_refresh``).  A Master leaving MASTER cancels what is still pending.
    """

    addresses: tuple[IPAddress, ...]
    repeat: int
    interval_us: int = 0
    second_burst_us: int = 0
    refresh_us: int = 0
    refresh_repeat: int = 1


@dataclass(frozen=True)
class StateChanged:
    """The instance moved from ``old`` to ``new``; ``priority`` is the effective priority afterwards."""

    old: State
    new: State
    reason: TransitionReason
    priority: int


@dataclass(frozen=True)
class ReceivedLowerPriority:
    """As Master we accepted a valid advert with a lower, non-zero ``priority`` from ``src``.

    Another router believes it is Master (a split brain healing, or a cloud secondary address to take back).
    The state machine does not change; the shell runs keepalived's ``notify_master_rx_lower_pri``.  It is an
    action, not something the shell reads off the packet, because only the router knows the advert passed
    every receive check (TTL, version, VRID, auth, unicast peers, ...) and was handled as Master.
    """

    priority: int
    src: IPAddress


Action = SendAdvertisement | AddVips | RemoveVips | SendGratuitous | StateChanged | ReceivedLowerPriority
"""What one ``VirtualRouter`` returns."""


# ---------------------------------------------------------------------- facts the host layer reports


@dataclass(frozen=True)
class PacketDiscarded:
    """A received packet was dropped and counted under ``reason``.

    Its instance is the one whose counter went up; host-level drops (shorter than the VRRP header, a VRID no
    instance on that interface has) belong to no instance and are counted in ``HostStats``.  ``src`` and
    ``detail`` are for the log.
    """

    reason: Reason
    src: IPAddress
    detail: str = ""


@dataclass(frozen=True)
class PriorityChanged:
    """The effective priority moved (base priority or tracker weights); ``state`` is the state it is in now."""

    old: int
    new: int
    state: State


@dataclass(frozen=True)
class SyncGroupStateChanged:
    """Every member of sync group ``group`` now agrees on ``state`` (FAULT as soon as one member faults).

    keepalived's "VRRP_Group(NAME) Syncing instances to STATE state" and the group's notify scripts.
    """

    group: str
    state: State


@dataclass(frozen=True)
class OldChecksumAdopted:
    """keepalived <= 1.3.6's VRRPv3 unicast checksum (over the multicast group) was seen from a peer: from now
    on the instance verifies and sends that form (keepalived's ``old_unicast_checksum`` auto mode)."""


HostAction = Action | PacketDiscarded | PriorityChanged | SyncGroupStateChanged | OldChecksumAdopted
"""What ``vrrp.core.host.Host`` returns, each paired with its instance name (None: the host itself)."""
