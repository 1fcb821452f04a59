"""Virtual addresses, routes and rules through rtnetlink (pyroute2 ``AsyncIPRoute``).

The router decides *when* a Master adds its VIPs and a Backup removes them; this module only does it,
idempotently, because a daemon restarts, reloads and races with administrators: adding an address that is
already there, or removing one that is already gone, is the normal case and not an error. Each
:class:`NetlinkConfigurator` remembers what *it* added, so shutdown removes exactly that and never an
address somebody else owns (docs/architecture.md: never flush what we do not own).

It takes an ``AsyncIPRoute`` from the caller (opened in the daemon's network namespace) instead of opening
one itself: the sync ``IPRoute`` cannot run inside a running loop (pyroute2 #1342), and one shared socket is
cheaper than one per call.

What is matched, as the kernel identifies objects: an address by (ifindex, address, prefix length); a
route by (table, destination, metric, TOS); a rule by its full selector. Scope names are those of
``/etc/iproute2/rt_scopes``.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from pyroute2.netlink.exceptions import NetlinkError

from vrrp.core.specs import (
    RT_TABLE_MAIN,
    RTPROT_KEEPALIVED,
    SCOPES,
    VirtualAddress,
    VirtualRoute,
    VirtualRule,
    parse_scope,
)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface

__all__ = [
    "RTPROT_KEEPALIVED",
    "RT_TABLE_MAIN",
    "SCOPES",
    "AddressError",
    "NetlinkConfigurator",
    "VirtualAddress",
    "VirtualRoute",
    "VirtualRule",
    "parse_scope",
]

ROUTE_TYPES: Final[dict[str, int]] = {"unicast": 1, "blackhole": 6, "unreachable": 7, "prohibit": 8}
IFA_F_SECONDARY: Final = 0x01
IFA_F_NODAD: Final = 0x02
IFA_F_HOMEADDRESS: Final = 0x10
IFA_F_TENTATIVE: Final = 0x40
IFA_F_NOPREFIXROUTE: Final = 0x200
INFINITY_LIFE_TIME: Final = 0xFFFFFFFF

#: the errno of an add whose object is already there (nothing changed)
_ALREADY_THERE: Final = (errno.EEXIST,)


class AddressError(Exception):
    """A netlink change failed for a reason other than "already there" / "already gone".

    The message names the object and the interface, so the daemon can log it as keepalived would.
    """


@dataclass
class NetlinkConfigurator:
    """Adds and removes VIPs, routes and rules; remembers what it added so it can take exactly that away.

    Every ``add_*`` returns True when it changed the system and False when the object was already present;
    every ``remove_*`` returns True when it removed something and False when it was already gone. Other
    failures raise :class:`AddressError`.
    """

    ipr: Any  # pyroute2.AsyncIPRoute (untyped library)
    added_addresses: list[VirtualAddress] = field(default_factory=list)
    added_routes: list[VirtualRoute] = field(default_factory=list)
    added_rules: list[VirtualRule] = field(default_factory=list)

    # -- interfaces -----------------------------------------------------------------------------------------

    async def ifindex(self, dev: str) -> int:
        """Interface index of ``dev``; AddressError naming it when it does not exist."""
        found = await self.ipr.link_lookup(ifname=dev)
        if not found:
            raise AddressError(f"interface {dev!r} does not exist")
        return int(found[0])

    async def interface_addresses(self, dev: str, family: int) -> list[tuple[IPInterface, int]]:
        """(address with prefix, IFA flags) on ``dev`` for ``family``, in the kernel's order."""
        index = await self.ifindex(dev)
        result: list[tuple[IPInterface, int]] = []
        async for msg in await self.ipr.addr("dump", index=index, family=family):
            addr = msg.get("IFA_ADDRESS") if family == socket.AF_INET6 else msg.get("IFA_LOCAL")
            if addr is None:
                continue
            flags = msg.get("IFA_FLAGS")
            flags = int(flags) if flags is not None else int(msg["flags"])
            result.append((ipaddress.ip_interface(f"{addr}/{msg['prefixlen']}"), flags))
        return result

    async def primary_address(
        self, dev: str, family: int, *, exclude: frozenset[IPAddress] = frozenset()
    ) -> IPAddress | None:
        """The VRRP source address of ``dev``: its primary IPv4 address or its IPv6 link-local address.

        IPv4: the first non-secondary address (RFC 9568 §5.1.1.1). IPv6: the first link-local address that
        is not tentative (RFC 9568 §5.1.2.1). ``exclude`` skips our own VIPs, which can otherwise become
        "primary" when they are in a subnet of their own. None when there is none (the router's FAULT case).
        """
        for iface, flags in await self.interface_addresses(dev, family):
            if iface.ip in exclude:
                continue
            if family == socket.AF_INET and not flags & IFA_F_SECONDARY:
                return iface.ip
            if family == socket.AF_INET6 and iface.ip.is_link_local and not flags & IFA_F_TENTATIVE:
                return iface.ip
        return None

    # -- addresses ------------------------------------------------------------------------------------------

    async def has_address(self, va: VirtualAddress) -> bool:
        return any(iface == va.address for iface, _ in await self.interface_addresses(va.dev, va.family))

    async def add_address(self, va: VirtualAddress) -> bool:
        """Add ``va``; False (nothing changed) when the same address/prefix is already there."""
        spec = self._address_key(va, await self.ifindex(va.dev))
        spec["scope"] = va.scope
        if va.label is not None and va.family == socket.AF_INET:
            spec["label"] = va.label
        if va.broadcast is not None and va.family == socket.AF_INET:
            spec["broadcast"] = str(va.broadcast)
        flags = (
            (IFA_F_NODAD if va.nodad and va.family == socket.AF_INET6 else 0)
            | (IFA_F_HOMEADDRESS if va.home else 0)
            | (IFA_F_NOPREFIXROUTE if va.noprefixroute else 0)
        )
        if flags:
            spec["IFA_FLAGS"] = flags
        if va.preferred_lft is not None:
            spec["preferred"] = va.preferred_lft
            spec["valid"] = INFINITY_LIFE_TIME
        return await self._change(self.ipr.addr, "add", spec, va, self.added_addresses, _ALREADY_THERE)

    @staticmethod
    def _address_key(va: VirtualAddress, index: int) -> dict[str, Any]:
        """What identifies an address to the kernel: interface, local address, prefix and any peer."""
        key: dict[str, Any] = {"index": index, "prefixlen": va.address.network.prefixlen}
        if va.peer is not None:
            key["local"] = str(va.address.ip)
            key["address"] = str(va.peer)
        else:
            key["address"] = str(va.address.ip)
        return key

    async def remove_address(self, va: VirtualAddress) -> bool:
        """Remove ``va``; False when it is not there (or its interface is gone, which removed it too)."""
        try:
            index = await self.ifindex(va.dev)
        except AddressError:
            self._forget(self.added_addresses, va)
            return False
        spec = self._address_key(va, index)
        return await self._change(
            self.ipr.addr, "del", spec, va, self.added_addresses, (errno.EADDRNOTAVAIL, errno.ENODEV, errno.ENOENT)
        )

    # -- routes ---------------------------------------------------------------------------------------------

    async def _route_spec(self, route: VirtualRoute) -> dict[str, Any]:
        if route.type not in ROUTE_TYPES:
            raise ValueError(f"route type {route.type!r} is not one of {', '.join(ROUTE_TYPES)}")
        spec: dict[str, Any] = {
            "family": route.family,
            "dst": str(route.dst.network_address),
            "dst_len": route.dst.prefixlen,
            "table": route.table,
            "type": ROUTE_TYPES[route.type],
            "proto": route.protocol,
        }
        if route.via is not None:
            spec["gateway"] = str(route.via)
        if route.dev is not None:
            spec["oif"] = await self.ifindex(route.dev)
        if route.src is not None:
            spec["prefsrc"] = str(route.src)
        if route.metric is not None:
            spec["priority"] = route.metric
        if route.scope is not None:
            spec["scope"] = route.scope
        return spec

    async def add_route(self, route: VirtualRoute) -> bool:
        spec = await self._route_spec(route)
        return await self._change(self.ipr.route, "add", spec, route, self.added_routes, _ALREADY_THERE, "route ")

    async def remove_route(self, route: VirtualRoute) -> bool:
        try:
            spec = await self._route_spec(route)
        except AddressError:  # its device is gone, and the route with it
            self._forget(self.added_routes, route)
            return False
        return await self._change(
            self.ipr.route, "del", spec, route, self.added_routes, (errno.ESRCH, errno.ENOENT, errno.ENODEV), "route "
        )

    # -- rules ----------------------------------------------------------------------------------------------

    @staticmethod
    def _rule_spec(rule: VirtualRule) -> dict[str, Any]:
        spec: dict[str, Any] = {"family": rule.family, "table": rule.table, "action": "FR_ACT_TO_TBL"}
        for name, net in (("src", rule.src), ("dst", rule.dst)):
            if net is not None:
                spec[name] = str(net.network_address)
                spec[f"{name}_len"] = net.prefixlen
        if rule.priority is not None:
            spec["priority"] = rule.priority
        if rule.iif is not None:
            spec["iifname"] = rule.iif
        if rule.oif is not None:
            spec["oifname"] = rule.oif
        if rule.fwmark is not None:
            spec["fwmark"] = rule.fwmark
        return spec

    async def add_rule(self, rule: VirtualRule) -> bool:
        return await self._change(
            self.ipr.rule, "add", self._rule_spec(rule), rule, self.added_rules, _ALREADY_THERE, "rule "
        )

    async def remove_rule(self, rule: VirtualRule) -> bool:
        return await self._change(
            self.ipr.rule, "del", self._rule_spec(rule), rule, self.added_rules, (errno.ENOENT, errno.ESRCH), "rule "
        )

    # -- shutdown -------------------------------------------------------------------------------------------

    async def remove_all_added(self) -> list[str]:
        """Remove every rule, route and address this configurator added, in reverse order of dependency.

        Keeps going past failures (shutdown must leave as little as possible behind) and returns their
        messages for the log.
        """
        failures: list[str] = []
        for rule in list(reversed(self.added_rules)):
            try:
                await self.remove_rule(rule)
            except AddressError as exc:
                failures.append(str(exc))
        for route in list(reversed(self.added_routes)):
            try:
                await self.remove_route(route)
            except AddressError as exc:
                failures.append(str(exc))
        for va in list(reversed(self.added_addresses)):
            try:
                await self.remove_address(va)
            except AddressError as exc:
                failures.append(str(exc))
        return failures

    async def _change(
        self,
        request: Callable[..., Awaitable[Any]],
        verb: str,
        spec: dict[str, Any],
        item: Any,
        added: list[Any],
        unchanged: tuple[int, ...],
        kind: str = "",
    ) -> bool:
        """One idempotent netlink add ("add") or removal ("del") of ``item``, shared by addresses, routes and rules.

        Returns False when the kernel answers that it is already so (an errno in ``unchanged``), True when it
        changed something. ``added`` stays the list of what we added and have not removed, so that shutdown
        removes exactly that.
        """
        try:
            await request(verb, **spec)
        except NetlinkError as exc:
            if exc.code not in unchanged:
                action = "add" if verb == "add" else "remove"
                raise AddressError(f"cannot {action} {kind}{item}: {_reason(exc)}") from exc
            changed = False
        else:
            changed = True
        if verb != "add":
            self._forget(added, item)
        elif changed and item not in added:
            added.append(item)
        return changed

    @staticmethod
    def _forget(items: list[Any], item: object) -> None:
        if item in items:
            items.remove(item)


def _reason(exc: NetlinkError) -> str:
    return f"{errno.errorcode.get(exc.code, str(exc.code))} ({exc.args[1] if len(exc.args) > 1 else exc})"
