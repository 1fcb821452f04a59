"""IPVS table model: virtual services, destinations and their kernel encodings.

Values are stored exactly as the kernel stores them (flag bits, raw netmask, forwarding method numbers) so the
memory backend, the kernel backend and the ipvsadm formats agree without translation tables scattered around.
"""

from __future__ import annotations

import enum
import ipaddress
import socket
from dataclasses import dataclass, field, replace

AF_INET = int(socket.AF_INET)
AF_INET6 = int(socket.AF_INET6)


class Protocol(enum.IntEnum):
    """Transport protocols the kernel accepts for address:port services."""

    TCP = socket.IPPROTO_TCP
    UDP = socket.IPPROTO_UDP
    SCTP = 132


class Forward(enum.IntEnum):
    """IP_VS_CONN_F_* forwarding methods (the kernel's numbers, ipvsadm's -m/-g/-i)."""

    NAT = 0  # "Masq"
    LOCAL = 1
    TUNNEL = 2
    DR = 3  # "Route"


class TunType(enum.IntEnum):
    """IP_VS_CONN_F_TUNNEL_TYPE_*."""

    IPIP = 0
    GUE = 1
    GRE = 2


# IP_VS_TUNNEL_ENCAP_FLAG_*: 0 is "nocsum"
TUN_F_NOCSUM = 0
TUN_F_CSUM = 1
TUN_F_REMCSUM = 2

# IP_VS_SVC_F_* service flags
F_PERSISTENT = 0x0001
F_HASHED = 0x0002
F_ONEPACKET = 0x0004
F_SCHED1 = 0x0008
F_SCHED2 = 0x0010
F_SCHED3 = 0x0020
F_SCHED_ALL = F_SCHED1 | F_SCHED2 | F_SCHED3  # the three scheduler-specific flag bits (-b)
USER_FLAGS = F_PERSISTENT | F_ONEPACKET | F_SCHED_ALL

#: every scheduler keepalived accepts (check_parser.c); the kernel may lack some (twos needs Linux 6.2+)
SCHEDULERS: tuple[str, ...] = (
    "rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
)
PERSISTENCE_ENGINES: tuple[str, ...] = ("sip",)

#: ipvsadm's default persistence timeout for a bare ``-p``, keepalived's bare persistence_timeout
DEFAULT_PERSISTENCE_TIMEOUT = 360


def sched_flag_names(sched: str, flags: int) -> list[str]:
    """Names of the scheduler flags as ipvsadm spells them (sh-port, flag-1 ...), in bit order."""
    if sched in ("sh", "mh"):  # ipvsadm has no name for the third flag of sh/mh and prints nothing for it
        names = {F_SCHED1: f"{sched}-fallback", F_SCHED2: f"{sched}-port", F_SCHED3: ""}
    else:
        names = {F_SCHED1: "flag-1", F_SCHED2: "flag-2", F_SCHED3: "flag-3"}
    return [names[bit] for bit in (F_SCHED1, F_SCHED2, F_SCHED3) if flags & bit and names[bit]]


def sched_flag_bits(sched: str, names: list[str]) -> int:
    """Inverse of :func:`sched_flag_names`; raises ValueError naming an unknown flag."""
    bits = 0
    table = {
        "flag-1": F_SCHED1, "flag-2": F_SCHED2, "flag-3": F_SCHED3,
        "sh-fallback": F_SCHED1, "sh-port": F_SCHED2, "mh-fallback": F_SCHED1, "mh-port": F_SCHED2,
    }
    for name in names:
        if name not in table:
            raise ValueError(f"unknown scheduler flag {name!r}")
        prefix = name.split("-")[0]
        if prefix in ("sh", "mh") and prefix != sched:
            raise ValueError(f"scheduler flag {name!r} needs scheduler {prefix!r}, not {sched!r}")
        bits |= table[name]
    return bits


def normalize_addr(addr: str) -> str:
    """Canonical text of an IP address (compressed IPv6), so keys compare equal however they were typed."""
    return str(ipaddress.ip_address(addr))


def addr_family(addr: str) -> int:
    return AF_INET6 if ipaddress.ip_address(addr).version == 6 else AF_INET


@dataclass(frozen=True, order=True)
class ServiceKey:
    """What identifies a virtual service: (af, protocol, addr, port) or (af, fwmark).

    For fwmark services protocol/addr/port are 0/""/0, which is also what the kernel reports.
    """

    af: int
    protocol: int = 0
    addr: str = ""
    port: int = 0
    fwmark: int = 0

    @staticmethod
    def inet(protocol: int | Protocol, addr: str, port: int) -> ServiceKey:
        a = normalize_addr(addr)
        return ServiceKey(addr_family(a), int(protocol), a, port, 0)

    @staticmethod
    def mark(fwmark: int, af: int = AF_INET) -> ServiceKey:
        return ServiceKey(af, 0, "", 0, fwmark)

    @property
    def is_fwmark(self) -> bool:
        return self.fwmark != 0

    def __str__(self) -> str:
        if self.fwmark:
            return f"FWM {self.fwmark}{' IPv6' if self.af == AF_INET6 else ''}"
        proto = {6: "TCP", 17: "UDP", 132: "SCTP"}.get(self.protocol, str(self.protocol))
        host = f"[{self.addr}]" if self.af == AF_INET6 else self.addr
        return f"{proto} {host}:{self.port}"


def default_netmask(af: int) -> int:
    """The kernel's netmask when none is given: /32 as a raw IPv4 mask, 128 as an IPv6 prefix length."""
    return 0xFFFFFFFF if af == AF_INET else 128


@dataclass(frozen=True)
class Service:
    """A virtual service's configuration (no destinations, no counters).

    ``flags`` holds the IP_VS_SVC_F_* user bits (persistent, one-packet, scheduler flags). ``timeout`` is the
    persistence timeout in seconds; the kernel keeps it even without the persistent flag, as we do.
    ``netmask`` is the kernel's raw value: an IPv4 mask as an integer or an IPv6 prefix length.
    """

    key: ServiceKey
    scheduler: str = "wlc"
    flags: int = 0
    timeout: int = 0
    netmask: int = -1  # -1: the family's default, resolved in __post_init__
    pe_name: str = ""

    def __post_init__(self) -> None:
        if self.netmask == -1:
            object.__setattr__(self, "netmask", default_netmask(self.key.af))

    @property
    def persistent(self) -> bool:
        return bool(self.flags & F_PERSISTENT)

    def with_(self, **changes: object) -> Service:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True, order=True)
class DestKey:
    """What identifies a destination within a service."""

    af: int
    addr: str
    port: int

    @staticmethod
    def of(addr: str, port: int) -> DestKey:
        a = normalize_addr(addr)
        return DestKey(addr_family(a), a, port)

    def __str__(self) -> str:
        return f"[{self.addr}]:{self.port}" if self.af == AF_INET6 else f"{self.addr}:{self.port}"


@dataclass(frozen=True)
class Destination:
    """A real server of a service: where to send, how, and how much."""

    key: DestKey
    forward: Forward = Forward.NAT
    weight: int = 1
    u_threshold: int = 0
    l_threshold: int = 0
    tun_type: TunType = TunType.IPIP
    tun_port: int = 0
    tun_flags: int = TUN_F_NOCSUM

    @staticmethod
    def of(addr: str, port: int, **kw: object) -> Destination:
        return Destination(DestKey.of(addr, port), **kw)  # type: ignore[arg-type]

    def with_(self, **changes: object) -> Destination:
        return replace(self, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Stats:
    """Counters and rates as the kernel reports them (stats64)."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0
    cps: int = 0
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0


@dataclass(frozen=True)
class DestState:
    """A destination as read back: configuration plus connection counters and statistics."""

    dest: Destination
    active_conns: int = 0
    inact_conns: int = 0
    persist_conns: int = 0
    stats: Stats = field(default_factory=Stats)


@dataclass(frozen=True)
class ServiceState:
    """A service as read back, with its destinations in the order the backend listed them."""

    service: Service
    dests: tuple[DestState, ...] = ()
    stats: Stats = field(default_factory=Stats)

    @property
    def key(self) -> ServiceKey:
        return self.service.key


@dataclass(frozen=True)
class DesiredService:
    """One entry of a desired table: a service and the destinations it must have (order irrelevant)."""

    service: Service
    dests: tuple[Destination, ...] = ()

    @property
    def key(self) -> ServiceKey:
        return self.service.key


@dataclass(frozen=True)
class Timeouts:
    """Connection timeouts in seconds (ipvsadm --set tcp tcpfin udp); 0 means leave unchanged when setting."""

    tcp: int = 900
    tcp_fin: int = 120
    udp: int = 300


@dataclass(frozen=True)
class Info:
    """IPVS version and connection table size (the first line of ipvsadm -L)."""

    version: int = 0x010201
    conn_tab_size: int = 4096

    @property
    def version_text(self) -> str:
        v = self.version
        return f"{v >> 16}.{(v >> 8) & 0xFF}.{v & 0xFF}"


# IP_VS_STATE_*: the two sync daemons a namespace may run (one of each)
STATE_MASTER = 1
STATE_BACKUP = 2
SYNC_STATES = {"master": STATE_MASTER, "backup": STATE_BACKUP}


@dataclass(frozen=True)
class SyncDaemon:
    """The kernel's connection-sync daemon (ipvsadm --start-daemon; keepalived's lvs_sync_daemon).

    ``state`` is STATE_MASTER (sends connection updates) or STATE_BACKUP (receives them); the rest as the kernel
    reports it: 0 / None means "the kernel's default" when starting (maxlen from the interface MTU, group
    224.0.0.81, port 8848, ttl 1)."""

    state: int
    mcast_ifn: str
    syncid: int
    sync_maxlen: int = 0
    mcast_group: str | None = None
    mcast_port: int = 0
    mcast_ttl: int = 0

    @property
    def state_name(self) -> str:
        return "master" if self.state == STATE_MASTER else "backup"


@dataclass(frozen=True)
class Connection:
    """One entry of the kernel's connection table (``/proc/net/ip_vs_conn``), as ipvsadm -c lists it."""

    protocol: str
    af: int
    caddr: str
    cport: int
    vaddr: str
    vport: int
    daddr: str
    dport: int
    state: str
    expires: int
    pe_name: str = ""
    pe_data: str = ""
