"""Accept_Mode off (RFC 9568 §6.1, keepalived ``no_accept`` / ``vrrp_strict``): a non-owner Master must not
accept packets addressed to its VIPs.

The VIPs still have to be on the interface (ARP/ND must answer for them, RFC 9568 §6.4.3), so the kernel
would accept the traffic; keepalived therefore drops it with a firewall, and so do we: one nftables table
that this daemon owns (``inet pykeepalived`` by default), holding two address sets and one chain hooked
in prerouting.  VIPs are added to the sets before the addresses appear and removed after they are gone,
so there is no window in which a non-accepting Master takes VIP traffic.  Neighbour Solicitations and
Advertisements for an IPv6 VIP are let through (ND is how the LAN finds the Master); ARP is not IP and
never reaches the hook.

nftables is driven with ``nft -f -`` (the documented, stable interface) rather than raw netlink messages:
a handful of element updates per transition, off the advert path (the caller runs it on its netlink
worker).  The table is deleted on exit, and re-created from scratch at start so a crashed run leaves no
stale VIP behind.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: keepalived's default nftables priority for its VRRP table ("nftables_priority", -1: before the filter).
DEFAULT_PRIORITY = -1


class AcceptFilterError(RuntimeError):
    """nft failed or is missing; the message says which command and why."""


def table_script(table: str, priority: int = DEFAULT_PRIORITY) -> str:
    """The ``nft -f`` text that (re)creates our table empty: sets ``vips4``/``vips6`` and the drop chain.

    ``table ...; delete table ...`` first makes the script work whether or not a previous run left the table.
    """
    return (
        f"table inet {table}\n"
        f"delete table inet {table}\n"
        f"table inet {table} {{\n"
        f"  set vips4 {{ type ipv4_addr; }}\n"
        f"  set vips6 {{ type ipv6_addr; }}\n"
        f"  chain in {{\n"
        f"    type filter hook prerouting priority {priority}; policy accept;\n"
        f"    ip daddr @vips4 drop\n"
        f"    ip6 daddr @vips6 icmpv6 type {{ nd-neighbor-solicit, nd-neighbor-advert }} accept\n"
        f"    ip6 daddr @vips6 drop\n"
        f"  }}\n"
        f"}}\n"
    )


def element_script(table: str, verb: str, addresses: Iterable[IPAddress]) -> str:
    """``add``/``delete element`` lines for ``addresses`` (empty text when there are none)."""
    v4 = [str(a) for a in addresses if isinstance(a, ipaddress.IPv4Address)]
    v6 = [str(a) for a in addresses if isinstance(a, ipaddress.IPv6Address)]
    lines = [f"{verb} element inet {table} {name} {{ {', '.join(items)} }}\n"
             for name, items in (("vips4", v4), ("vips6", v6)) if items]
    return "".join(lines)


@dataclass(eq=False)
class AcceptFilter:
    """The daemon's nftables table; VIPs are reference-counted (two instances may share one)."""

    table: str = "pykeepalived"
    priority: int = DEFAULT_PRIORITY
    nft: str = "nft"
    _refs: Counter[IPAddress] = field(default_factory=Counter)
    _created: bool = False
    #: instances' netlink workers run concurrently; two first-time ``block`` calls must not both (re)create
    #: the table, or the second wipes the first one's VIPs
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def _run(self, script: str) -> None:
        exe = shutil.which(self.nft)
        if exe is None:
            raise AcceptFilterError(f"no_accept needs nftables: {self.nft!r} not found in PATH")
        proc = await asyncio.create_subprocess_exec(
            exe, "-f", "-", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _out, err = await proc.communicate(script.encode())
        if proc.returncode != 0:
            first = script.strip().splitlines()[0] if script.strip() else ""
            raise AcceptFilterError(f"nft failed ({first} ...): {err.decode(errors='replace').strip()}")

    async def block(self, addresses: Iterable[IPAddress]) -> None:
        """Drop traffic to ``addresses`` from now on (creating the table on first use)."""
        async with self._lock:
            await self._block(addresses)

    async def _block(self, addresses: Iterable[IPAddress]) -> None:
        new = []
        for a in addresses:
            self._refs[a] += 1
            if self._refs[a] == 1:
                new.append(a)
        script = "" if self._created else table_script(self.table, self.priority)
        script += element_script(self.table, "add", new)
        if not script:
            return
        try:
            await self._run(script)
        except AcceptFilterError:
            for a in new:
                self._refs[a] -= 1
            raise
        self._created = True

    async def unblock(self, addresses: Iterable[IPAddress]) -> None:
        """Stop dropping traffic to ``addresses`` (those no other instance still blocks)."""
        async with self._lock:
            await self._unblock(addresses)

    async def _unblock(self, addresses: Iterable[IPAddress]) -> None:
        gone = []
        for a in addresses:
            if self._refs[a] <= 0:
                continue
            self._refs[a] -= 1
            if self._refs[a] == 0:
                del self._refs[a]
                gone.append(a)
        script = element_script(self.table, "delete", gone)
        if script and self._created:
            await self._run(script)

    def blocked(self) -> frozenset[IPAddress]:
        return frozenset(self._refs)

    async def close(self) -> None:
        """Delete the table (idempotent; only if this run created it)."""
        async with self._lock:
            self._refs.clear()
            if not self._created:
                return
            self._created = False
            await self._run(f"table inet {self.table}\ndelete table inet {self.table}\n")
