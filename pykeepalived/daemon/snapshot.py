"""A frozen picture of the daemon at one moment: what the dumps, the metrics endpoint and the alerts read.

Why one snapshot type: the SIGUSR1/SIGUSR2/JSON dumps, the Prometheus endpoint and tests all describe the same
running state.  The daemon builds one ``DaemonSnapshot`` (cheap: a few tuples per instance) and every formatter is
a pure function of it, so the formats can be tested without a daemon and can never disagree with each other.

Counter names are keepalived's (``vrrp_stats`` in keepalived/include/vrrp.h), which are also the keys of
``/tmp/keepalived.json`` and the source of the widely used exporters' metric names; ``VrrpCounters.from_router``
maps our RFC 6527 discard reasons onto them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from ipvs.model import ServiceState
from pykeepalived.config.model import GlobalDefs
from vrrp.core.packet import Reason
from vrrp.core.router import RouterStats
from vrrp.core.state import State

# <linux/if.h> link flags the data dump spells out.
IFF_UP = 0x1
IFF_BROADCAST = 0x2
IFF_LOOPBACK = 0x8
IFF_POINTOPOINT = 0x10
IFF_RUNNING = 0x40
IFF_NOARP = 0x80
IFF_MULTICAST = 0x1000

#: keepalived's numeric states (VRRP_STATE_INIT .. VRRP_STATE_FAULT), as written in keepalived.json.
STATE_NUMBER: Mapping[State, int] = {State.INIT: 0, State.BACKUP: 1, State.MASTER: 2, State.FAULT: 3}

#: Our discard reasons that have a keepalived counter; the rest (checksum, version, vrid, owner, unicast peer)
#: have none in keepalived's vrrp_stats and are kept in ``VrrpCounters.other_discards``.
_REASON_COUNTER: Mapping[Reason, str] = {
    Reason.LENGTH: "packet_len_err",
    Reason.TTL: "ip_ttl_err",
    Reason.TYPE: "invalid_type_rcvd",
    Reason.INTERVAL: "advert_interval_err",
    Reason.ADDRESS_LIST: "addr_list_err",
    Reason.AUTH_TYPE: "invalid_authtype",
    Reason.AUTH_TYPE_MISMATCH: "authtype_mismatch",
    Reason.AUTH: "auth_failure",
}


@dataclass(frozen=True)
class VrrpCounters:
    """One instance's counters under keepalived's names (keepalived.json ``stats``), in keepalived's order."""

    advert_rcvd: int = 0
    advert_sent: int = 0
    become_master: int = 0
    release_master: int = 0
    packet_len_err: int = 0
    advert_interval_err: int = 0
    ip_ttl_err: int = 0
    invalid_type_rcvd: int = 0
    addr_list_err: int = 0
    invalid_authtype: int = 0
    authtype_mismatch: int = 0
    auth_failure: int = 0
    pri_zero_rcvd: int = 0
    pri_zero_sent: int = 0
    #: RFC 6527 discards keepalived does not count per instance (reason value -> count); not in its files.
    other_discards: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_router(cls, stats: RouterStats, *, release_master: int) -> VrrpCounters:
        """keepalived's counters from a router's RFC 6527 ones.

        ``release_master`` (transitions out of MASTER) is not a RouterStats counter: the daemon counts it from
        its transition log.  A v3 address-list mismatch is logged, not discarded (RFC 9568), but keepalived counts
        it in ``addr_list_err``, so we do too.
        """
        counts: dict[str, int] = {}
        other: list[tuple[str, int]] = []
        for reason in Reason:
            n = stats.discards.get(reason.value, 0)
            name = _REASON_COUNTER.get(reason)
            if name is not None:
                counts[name] = n
            elif n:
                other.append((reason.value, n))
        counts["addr_list_err"] += stats.address_list_mismatch
        return cls(
            advert_rcvd=stats.adverts_received,
            advert_sent=stats.adverts_sent,
            become_master=stats.master_transitions,
            release_master=release_master,
            pri_zero_rcvd=stats.rcvd_pri_zero,
            pri_zero_sent=stats.sent_pri_zero,
            other_discards=tuple(other),
            **counts,
        )

    @classmethod
    def from_keepalived(cls, counters: Mapping[str, object]) -> VrrpCounters:
        """Counters read back from a keepalived.json ``stats`` object or ``parse_stats`` (unknown keys ignored)."""
        names = [f.name for f in fields(cls) if f.name != "other_discards"]
        return cls(**{n: int(str(counters.get(n, 0))) for n in names})  # type: ignore[arg-type]

    def as_keepalived(self) -> dict[str, int]:
        """The counters keepalived writes, in its order (keepalived.json ``stats``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "other_discards"}


@dataclass(frozen=True)
class VipSnapshot:
    """One virtual (or excluded) address as keepalived prints it: ``192.0.2.1/24 dev eth0 scope global set``."""

    address: str  # "192.0.2.1/24" or "2001:db8::1/64" (an interface address with its prefix)
    dev: str
    scope: str = "global"
    label: str | None = None
    is_set: bool = False

    def keepalived_text(self) -> str:
        """keepalived's format_ipaddress: the prefix is left out for a host address, v6 carries its lifetime."""
        iface = ipaddress.ip_interface(self.address)
        host = iface.network.prefixlen == iface.max_prefixlen
        text = str(iface.ip) if host else str(iface)
        text += f" dev {self.dev} scope {self.scope}"
        if self.label:
            text += f" label {self.label}"
        if iface.version == 6:
            text += " preferred_lft forever"
        if self.is_set:
            text += " set"
        return text


@dataclass(frozen=True)
class TrackedSnapshot:
    """One tracked interface or script of an instance: the data dump prints ``name weight W [reverse]``,
    keepalived.json the interface name or the script's command line."""

    name: str
    weight: int = 0
    reverse: bool = False
    command: str | None = None  # track_script only


@dataclass(frozen=True)
class InstanceSnapshot:
    """One VRRP instance: configuration the dumps show, its run-time state and its counters."""

    name: str
    state: State
    vrid: int
    interface: str
    ifindex: int = 0
    version: int = 2
    family: int = 4
    base_priority: int = 100
    effective_priority: int = 100
    advert_int: float = 1.0  # seconds
    master_adver_int: float = 1.0  # seconds (learnt from the Master in v3)
    master_router: str | None = None
    master_priority: int = 0
    source_ip: str | None = None
    sync_group: str | None = None
    nopreempt: bool = False
    preempt_delay: float = 0.0
    accept: bool = True
    promote_secondaries: bool = False
    strict_mode: bool = False
    auth_type: int = 0  # 0 none, 1 PASS, 2 AH (keepalived's numbering)
    auth_data: str = ""
    vips: tuple[VipSnapshot, ...] = ()
    evips: tuple[VipSnapshot, ...] = ()
    unicast_peers: tuple[str, ...] = ()
    track_interfaces: tuple[TrackedSnapshot, ...] = ()
    track_scripts: tuple[TrackedSnapshot, ...] = ()
    scripts: tuple[tuple[str, str], ...] = ()  # (keepalived's key: script_master/.../script, command line)
    vmac_ifname: str = ""
    garp_delay: float = 5.0
    garp_rep: int = 5
    garp_refresh: float = 0.0
    garp_refresh_rep: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_rep: int = 5
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    smtp_alert: bool = False
    last_transition: float = 0.0  # epoch seconds
    counters: VrrpCounters = field(default_factory=VrrpCounters)

    @property
    def state_number(self) -> int:
        return STATE_NUMBER[self.state]


@dataclass(frozen=True)
class SyncGroupSnapshot:
    name: str
    state: State
    members: tuple[str, ...]
    smtp_alert: bool = False


@dataclass(frozen=True)
class InterfaceSnapshot:
    """An interface as the data dump lists it."""

    name: str
    index: int
    ipv4: str | None = None
    ipv6: str | None = None
    mac: str | None = None
    mac_broadcast: str | None = None
    flags: int = IFF_UP | IFF_BROADCAST | IFF_RUNNING | IFF_MULTICAST  # the link's IFF_* bits (netlink ifi_flags)
    mtu: int = 1500
    tracking: tuple[str, ...] = ()  # instances tracking this interface


@dataclass(frozen=True)
class CheckerResult:
    """One checker's verdict on one real server (for metrics and alerts)."""

    virtual_server: str  # e.g. "TCP 192.0.2.10:80" (ipvs.model.ServiceKey's text)
    real_server: str  # e.g. "192.0.2.21:80"
    checker: str  # "TCP_CHECK", "HTTP_GET", ...
    up: bool


@dataclass(frozen=True)
class GlobalSnapshot:
    """The global_defs values the data dump prints (from the config model's GlobalDefs)."""

    router_id: str | None = None
    smtp_server: str | None = None
    smtp_port: int = 25
    smtp_helo_name: str | None = None
    smtp_connect_timeout: int = 30
    email_from: str | None = None
    email_to: tuple[str, ...] = ()
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    dynamic_interfaces: bool = False
    default_interface: str = "eth0"
    lvs_flush: bool = False
    mcast_group4: str = "224.0.0.18"
    mcast_group6: str = "ff02::12"
    garp_delay: float = 5.0
    garp_rep: int = 5
    garp_refresh: float = 0.0
    garp_refresh_rep: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_rep: int = 5
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    garp_interval: float = 0.0
    gna_interval: float = 0.0
    vrrp_version: int = 2
    check_unicast_src: bool = False
    skip_check_adv_addr: bool = False
    strict: bool = False
    max_auto_priority: int = 0
    script_security: bool = False

    @classmethod
    def from_defs(cls, g: GlobalDefs) -> GlobalSnapshot:
        """The values of a parsed ``global_defs`` block."""
        return cls(
            router_id=g.router_id, smtp_server=g.smtp_server, smtp_port=g.smtp_port, smtp_helo_name=g.smtp_helo_name,
            smtp_connect_timeout=g.smtp_connect_timeout, email_from=g.notification_email_from,
            email_to=g.notification_email, smtp_alert=g.smtp_alert, smtp_alert_vrrp=g.smtp_alert_vrrp,
            smtp_alert_checker=g.smtp_alert_checker, dynamic_interfaces=g.dynamic_interfaces,
            default_interface=g.default_interface, lvs_flush=g.lvs_flush, mcast_group4=g.vrrp_mcast_group4,
            mcast_group6=g.vrrp_mcast_group6, garp_delay=g.vrrp_garp_master_delay,
            garp_rep=g.vrrp_garp_master_repeat, garp_refresh=g.vrrp_garp_master_refresh,
            garp_refresh_rep=g.vrrp_garp_master_refresh_repeat, garp_lower_prio_delay=g.vrrp_garp_lower_prio_delay,
            garp_lower_prio_rep=g.vrrp_garp_lower_prio_repeat, down_timer_adverts=g.vrrp_down_timer_adverts,
            lower_prio_no_advert=g.vrrp_lower_prio_no_advert, higher_prio_send_advert=g.vrrp_higher_prio_send_advert,
            garp_interval=g.vrrp_garp_interval, gna_interval=g.vrrp_gna_interval, vrrp_version=g.vrrp_version,
            check_unicast_src=g.vrrp_check_unicast_src, skip_check_adv_addr=g.vrrp_skip_check_adv_addr,
            strict=g.vrrp_strict, max_auto_priority=g.max_auto_priority or 0,
            script_security=g.enable_script_security,
        )


@dataclass(frozen=True)
class DaemonSnapshot:
    """Everything the dumps and metrics show, taken at ``taken_at`` (epoch seconds)."""

    taken_at: float
    globals: GlobalSnapshot = field(default_factory=GlobalSnapshot)
    instances: tuple[InstanceSnapshot, ...] = ()
    sync_groups: tuple[SyncGroupSnapshot, ...] = ()
    interfaces: tuple[InterfaceSnapshot, ...] = ()
    checkers: tuple[CheckerResult, ...] = ()
    ipvs: tuple[ServiceState, ...] = ()  # the kernel's table as last read back (checker process)
