"""What a Master installs besides its VIP list: the VIPs with their ``ip addr`` options, routes and rules.

They are plain frozen data (keepalived's ``virtual_ipaddress``, ``virtual_routes`` and ``virtual_rules`` entries,
parsed): the core carries them in ``RouterConfig`` and in the ``AddVips`` / ``RemoveVips`` actions so the I/O
shell installs exactly what the action says, never re-reading settings.  ``vrrp.io.addresses`` installs them
through rtnetlink.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Linux's address family numbers (``socket.AF_INET`` / ``socket.AF_INET6``), so the core needs no socket module.
AF_INET: Final = 2
AF_INET6: Final = 10

SCOPES: Final[dict[str, int]] = {
    "global": 0,
    "universe": 0,
    "site": 200,
    "link": 253,
    "host": 254,
    "nowhere": 255,
}
RT_TABLE_MAIN: Final = 254
RTPROT_KEEPALIVED: Final = 18  # keepalived tags its routes "proto keepalived"; so do we


def parse_scope(value: str | int) -> int:
    """Scope name or number -> number; a clear ValueError otherwise (the config layer reports file:line)."""
    if isinstance(value, int):
        if 0 <= value <= 255:
            return value
        raise ValueError(f"scope {value} is not in 0..255")
    if value in SCOPES:
        return SCOPES[value]
    if value.isdigit():
        return parse_scope(int(value))
    raise ValueError(f"unknown scope {value!r} (expected one of {', '.join(sorted(SCOPES))} or 0..255)")


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One ``virtual_ipaddress`` / ``virtual_ipaddress_excluded`` entry.

    For example ``10.0.0.100/24 dev eth0 label eth0:1``.

    ``address`` carries the prefix (a bare address means /32 or /128, as keepalived). The rest mirror the
    ``ip addr`` options keepalived accepts: ``peer`` (point-to-point), ``nodad`` (IPv6: usable at once
    instead of after DAD), ``home`` and ``noprefixroute`` (IFA flags), ``preferred_lft`` (seconds; None is
    forever; IPv6 ``0`` keeps the VIP from being chosen as a source address).
    """

    address: IPInterface
    dev: str
    scope: int = 0
    label: str | None = None
    broadcast: ipaddress.IPv4Address | None = None
    peer: IPAddress | None = None
    nodad: bool = False
    home: bool = False
    noprefixroute: bool = False
    preferred_lft: int | None = None

    @property
    def family(self) -> int:
        return AF_INET if self.address.version == 4 else AF_INET6

    def __str__(self) -> str:
        return f"{self.address.with_prefixlen} dev {self.dev}"


@dataclass(frozen=True, slots=True)
class VirtualRoute:
    """One ``virtual_routes`` entry (basic form): ``dst [via GW] [dev IF] [src IP] [table N] [metric N]``.

    ``type`` is unicast, blackhole, unreachable or prohibit; ``dev`` is required for unicast routes
    without a gateway. ``protocol`` (default 18, "keepalived") is also matched on removal, so we never
    delete an identical route that somebody else installed.
    """

    dst: IPNetwork
    via: IPAddress | None = None
    dev: str | None = None
    src: IPAddress | None = None
    table: int = RT_TABLE_MAIN
    metric: int | None = None
    scope: int | None = None
    type: str = "unicast"
    protocol: int = RTPROT_KEEPALIVED

    @property
    def family(self) -> int:
        return AF_INET if self.dst.version == 4 else AF_INET6

    def __str__(self) -> str:
        parts = [self.type if self.type != "unicast" else "", self.dst.with_prefixlen]
        parts += [f"via {self.via}"] if self.via else []
        parts += [f"dev {self.dev}"] if self.dev else []
        parts += [f"table {self.table}"] if self.table != RT_TABLE_MAIN else []
        return " ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class VirtualRule:
    """One ``virtual_rules`` entry (basic form).

    ``from NET to NET iif IF oif IF fwmark N table N priority N``.

    ``family`` is needed because a rule with neither ``src`` nor ``dst`` carries no address to infer it from.
    """

    table: int
    family: int = AF_INET
    src: IPNetwork | None = None
    dst: IPNetwork | None = None
    priority: int | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None

    def __str__(self) -> str:
        parts = [f"from {self.src}" if self.src else "from all", f"to {self.dst}" if self.dst else ""]
        parts += [f"iif {self.iif}" if self.iif else "", f"oif {self.oif}" if self.oif else ""]
        parts += [f"fwmark {self.fwmark:#x}" if self.fwmark is not None else "", f"lookup {self.table}"]
        prefix = f"{self.priority}: " if self.priority is not None else ""
        return prefix + " ".join(p for p in parts if p)
