"""Actions the sans-IO virtual router returns; the I/O shell (or the simulator) carries them out in order.

They are plain frozen dataclasses so tests can compare them and the simulator can record them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vrrp.core.packet import AUTH_NONE, Advertisement, ChecksumForm
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
    """Install the VIPs.  ``accept`` False asks the shell to drop traffic addressed to them (Accept_Mode)."""

    addresses: tuple[IPAddress, ...]
    accept: bool


@dataclass(frozen=True)
class RemoveVips:
    """Remove the VIPs."""

    addresses: tuple[IPAddress, ...]


@dataclass(frozen=True)
class SendGratuitous:
    """Gratuitous ARP (IPv4) or unsolicited NA with R=1,S=0,O=1 (IPv6) for each address, ``repeat`` times."""

    addresses: tuple[IPAddress, ...]
    repeat: int


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
