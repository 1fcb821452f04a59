"""``use_vmac``: a macvlan carrying the RFC virtual MAC for one VRRP instance.

Why: with a virtual MAC (RFC 9568 §7.3: 00:00:5e:00:01:VRID for IPv4, 00:00:5e:00:02:VRID for IPv6) a
failover does not change the MAC that clients cache for the VIP, so it does not depend on GARP reaching
everyone. keepalived implements it as a macvlan (bridge mode) on the instance's interface; we do the same,
with the same side settings (keepalived ``vrrp_if_config.c``):

* on the VMAC: ``arp_ignore=1`` (never answer ARP for the parent's addresses), ``accept_local=1`` (hear
  the other routers), ``rp_filter=0`` (receive on an interface without addresses),
  ``promote_secondaries=1``;
* on the parent, while any VMAC uses it: ``arp_ignore=1`` and ``arp_filter=1`` (the parent must not answer
  ARP for the VIP with the physical MAC) and ``arp_announce=2``: replies from the VIP leave through the
  parent, and without it the parent's own ARP requests would carry the VIP as sender address and flip
  every neighbour's entry for the VIP to the physical MAC (seen in the lab test); the previous values are
  restored when the last VMAC goes;
* IPv6 ``addrgenmode random`` (RFC 9568 §7.4: never derive an EUI-64 link-local from the virtual MAC,
  or both routers get the same link-local and both become Master).

The link and addrgenmode go through netlink (the caller's ``AsyncIPRoute``); the IPv4 sysctls are written
under ``sysctl_root`` (``/proc/sys``), which is the *current* network namespace's view, so use this module
from inside the namespace that holds the interface, as the daemon does.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from pyroute2.netlink.exceptions import NetlinkError

IN6_ADDR_GEN_MODE_RANDOM: Final = 3
VMAC_SYSCTLS: Final[dict[str, str]] = {
    "arp_ignore": "1",
    "accept_local": "1",
    "rp_filter": "0",
    "promote_secondaries": "1",
}
PARENT_SYSCTLS: Final[dict[str, str]] = {"arp_ignore": "1", "arp_filter": "1", "arp_announce": "2"}


class VmacError(Exception):
    """A VMAC could not be created or configured; the message names the interface and the reason."""


def vmac_address(vrid: int, family: int) -> str:
    """RFC 9568 §7.3 virtual MAC of ``vrid`` for ``family``."""
    if not 1 <= vrid <= 255:
        raise ValueError(f"VRID must be 1..255, not {vrid}")
    return f"00:00:5e:00:{1 if family == socket.AF_INET else 2:02x}:{vrid:02x}"


def default_vmac_name(vrid: int, family: int) -> str:
    """keepalived's default name ``vrrp.VRID``; IPv6 instances get ``vrrp6.VRID`` so both families can
    use the same VRID on one interface without a name clash."""
    return f"vrrp.{vrid}" if family == socket.AF_INET else f"vrrp6.{vrid}"


@dataclass(frozen=True, slots=True)
class VmacSpec:
    """What ``use_vmac [NAME]`` (+ ``vmac_mac``) asks for on ``parent`` for instance ``vrid``/``family``."""

    parent: str
    vrid: int
    family: int = socket.AF_INET
    name: str | None = None
    mac: str | None = None

    @property
    def ifname(self) -> str:
        return self.name or default_vmac_name(self.vrid, self.family)

    @property
    def address(self) -> str:
        return (self.mac or vmac_address(self.vrid, self.family)).lower()


@dataclass(frozen=True, slots=True)
class Vmac:
    """A VMAC that exists and is up. ``created`` is False when a matching one was already there."""

    ifname: str
    ifindex: int
    mac: str
    parent_ifindex: int
    created: bool


@dataclass
class _ParentState:
    holders: set[str]
    saved: dict[str, str]


@dataclass
class VmacManager:
    """Creates and removes VMAC interfaces idempotently, and keeps the parent's ARP sysctls in step."""

    ipr: Any  # pyroute2.AsyncIPRoute (untyped library)
    sysctl_root: Path = Path("/proc/sys")
    _parents: dict[str, _ParentState] = field(default_factory=dict)

    async def _link(self, ifname: str) -> Any | None:
        found = await self.ipr.link_lookup(ifname=ifname)
        if not found:
            return None
        msgs = await self.ipr.link("get", index=found[0])
        return next(iter(msgs))

    async def create(self, spec: VmacSpec) -> Vmac:
        """Make sure the VMAC of ``spec`` exists, is configured and up; reuse a matching leftover."""
        parent = await self._link(spec.parent)
        if parent is None:
            raise VmacError(f"use_vmac: parent interface {spec.parent!r} does not exist")
        parent_index = int(parent["index"])
        existing = await self._link(spec.ifname)
        created = False
        if existing is not None:
            self._check_matches(spec, existing, parent_index)
            index = int(existing["index"])
        else:
            try:
                await self.ipr.link(
                    "add",
                    ifname=spec.ifname,
                    kind="macvlan",
                    link=parent_index,
                    macvlan_mode="bridge",
                    address=spec.address,
                )
            except NetlinkError as exc:
                raise VmacError(f"use_vmac: cannot create {spec.ifname!r} on {spec.parent!r}: {exc}") from exc
            created = True
            link = await self._link(spec.ifname)
            if link is None:
                raise VmacError(f"use_vmac: {spec.ifname!r} vanished right after creation")
            index = int(link["index"])
        try:
            af_spec = {"attrs": [["AF_INET6", {"attrs": [["IFLA_INET6_ADDR_GEN_MODE", IN6_ADDR_GEN_MODE_RANDOM]]}]]}
            await self.ipr.link("set", index=index, af_spec=af_spec)
            if spec.family == socket.AF_INET:
                for name, value in VMAC_SYSCTLS.items():
                    self._write(spec.ifname, name, value)
                self._hold_parent(spec.parent, spec.ifname)
            await self.ipr.link("set", index=index, state="up")
        except (NetlinkError, OSError) as exc:
            if created:
                await self._delete(index)
            raise VmacError(f"use_vmac: cannot configure {spec.ifname!r}: {exc}") from exc
        return Vmac(spec.ifname, index, spec.address, parent_index, created)

    async def remove(self, spec: VmacSpec) -> bool:
        """Delete the VMAC of ``spec``; False when it is absent or is not a VMAC matching ``spec``.

        The parent's sysctls are restored when its last VMAC (configured through this manager) goes.
        Calling it twice is harmless.
        """
        if spec.family == socket.AF_INET:
            self._release_parent(spec.parent, spec.ifname)
        existing = await self._link(spec.ifname)
        if existing is None:
            return False
        parent = await self._link(spec.parent)
        try:
            self._check_matches(spec, existing, int(parent["index"]) if parent is not None else -1)
        except VmacError:
            return False  # not ours: never delete an interface we do not own
        return await self._delete(int(existing["index"]))

    async def _delete(self, index: int) -> bool:
        try:
            await self.ipr.link("del", index=index)
        except NetlinkError:
            return False
        return True

    @staticmethod
    def _check_matches(spec: VmacSpec, link: Any, parent_index: int) -> None:
        kind = link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND")
        mac = str(link.get("IFLA_ADDRESS", "")).lower()
        if kind != "macvlan" or link.get("IFLA_LINK") != parent_index or mac != spec.address:
            raise VmacError(
                f"use_vmac: interface {spec.ifname!r} exists but is not the VMAC {spec.address} on "
                f"{spec.parent!r} (kind {kind}, MAC {mac}); choose another name"
            )

    def _path(self, ifname: str, name: str) -> Path:
        return self.sysctl_root / "net" / "ipv4" / "conf" / ifname / name

    def _write(self, ifname: str, name: str, value: str) -> None:
        self._path(ifname, name).write_text(value)

    def _hold_parent(self, parent: str, vmac: str) -> None:
        state = self._parents.get(parent)
        if state is None:
            saved = {name: self._path(parent, name).read_text().strip() for name in PARENT_SYSCTLS}
            for name, value in PARENT_SYSCTLS.items():
                self._write(parent, name, value)
            state = self._parents[parent] = _ParentState(set(), saved)
        state.holders.add(vmac)

    def _release_parent(self, parent: str, vmac: str) -> None:
        state = self._parents.get(parent)
        if state is None:
            return
        state.holders.discard(vmac)
        if state.holders:
            return
        del self._parents[parent]
        for name, value in state.saved.items():
            with contextlib.suppress(OSError):  # the parent is gone, and its settings with it
                self._write(parent, name, value)
