"""Typed, immutable model of a keepalived.conf, with keepalived's defaults already applied.

Everything here is resolved: checker timings carry the value inherited from the real server or
virtual server (or the checker type's default), instances carry the global GARP defaults, and so
on - consumers (vrrp/, ipvs/, checkers/ settings) never re-implement keepalived's defaulting.
Keywords we recognise but do not model field by field are kept, in order, in ``extra`` so nothing
the user wrote is lost (and ``--dump-conf`` shows it).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from .errors import Location

Extra = tuple[tuple[str, tuple[str, ...]], ...]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class Script:
    """A command keepalived runs: the raw string, its argv (split on unquoted spaces) and run-as user."""

    command: str
    argv: tuple[str, ...]
    user: str | None = None
    group: str | None = None


@dataclass(frozen=True, slots=True)
class GlobalDefs:
    router_id: str | None = None
    notification_email: tuple[str, ...] = ()
    notification_email_from: str | None = None
    smtp_server: str | None = None
    smtp_port: int = 25
    smtp_connect_timeout: int = 30
    smtp_helo_name: str | None = None
    smtp_alert: bool | None = None
    smtp_alert_vrrp: bool | None = None
    smtp_alert_checker: bool | None = None
    script_user: str | None = None
    script_group: str | None = None
    enable_script_security: bool = False
    vrrp_version: int = 2
    vrrp_mcast_group4: str = "224.0.0.18"
    vrrp_mcast_group6: str = "ff02::12"
    vrrp_garp_master_delay: float = 5.0
    vrrp_garp_master_repeat: int = 5
    vrrp_garp_master_refresh: float = 0.0
    vrrp_garp_master_refresh_repeat: int = 1
    vrrp_garp_lower_prio_delay: float = 5.0
    vrrp_garp_lower_prio_repeat: int = 5
    vrrp_garp_interval: float = 0.0
    vrrp_gna_interval: float = 0.0
    vrrp_min_garp: bool = False
    vrrp_down_timer_adverts: int = 3
    vrrp_lower_prio_no_advert: bool = False
    vrrp_higher_prio_send_advert: bool = False
    vrrp_check_unicast_src: bool = False
    vrrp_skip_check_adv_addr: bool = False
    vrrp_strict: bool = False
    vrrp_startup_delay: float = 0.0
    dynamic_interfaces: bool = False
    default_interface: str = "eth0"
    lvs_flush: bool = False
    lvs_sync_daemon: tuple[str, ...] = ()
    lvs_timeouts: tuple[tuple[str, int], ...] = ()
    max_auto_priority: int | None = None
    random_seed: int | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class VrrpScript:
    name: str
    location: Location
    script: Script | None = None
    interval: float = 1.0
    timeout: float = 1.0  # defaults to interval
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    init_fail: bool = False


@dataclass(frozen=True, slots=True)
class TrackProcess:
    name: str
    location: Location
    process: str | None = None
    args: tuple[str, ...] = ()
    full_command: bool = False
    param_match: str = "exact"
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    fork_delay: float = 0.0
    terminate_delay: float = 0.0
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class TrackFile:
    name: str
    location: Location
    file: str | None = None
    weight: int = 1
    weight_reverse: bool = False
    init_file: bool = False
    init_value: int = 0
    init_overwrite: bool = False


@dataclass(frozen=True, slots=True)
class TrackRef:
    """A reference from an instance/sync group to a tracker, with optional weight override."""

    name: str
    location: Location
    weight: int | None = None
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class Notify:
    master: Script | None = None
    backup: Script | None = None
    fault: Script | None = None
    stop: Script | None = None
    deleted: Script | None = None
    notify: Script | None = None
    master_rx_lower_pri: Script | None = None


@dataclass(frozen=True, slots=True)
class VrrpSyncGroup:
    name: str
    location: Location
    group: tuple[str, ...] = ()
    track_interface: tuple[TrackRef, ...] = ()
    track_script: tuple[TrackRef, ...] = ()
    track_file: tuple[TrackRef, ...] = ()
    track_process: tuple[TrackRef, ...] = ()
    notify: Notify = field(default_factory=Notify)
    notify_priority_changes: bool = False
    smtp_alert: bool | None = None
    sync_group_tracking_weight: bool = False
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One ``virtual_ipaddress`` entry: ``IP[/len] [brd X] [dev IF] [scope S] [label L] ...``."""

    address: str
    prefixlen: int
    family: int  # 4 or 6
    location: Location
    dev: str | None = None
    brd: str | None = None
    scope: str | None = None
    label: str | None = None
    peer: str | None = None
    use_vmac: bool = False
    no_track: bool = False
    options: tuple[str, ...] = ()

    @property
    def interface(self) -> IPInterface:
        """The address with its prefix (the parser checked both)."""
        return ipaddress.ip_interface(f"{self.address}/{self.prefixlen}")

    @property
    def broadcast(self) -> IPAddress | None:
        """An explicit ``brd`` address; None for none or ``brd +``/``brd -`` (the kernel's choice)."""
        if self.brd is None or self.brd in ("+", "-"):
            return None
        return ipaddress.ip_address(self.brd)

    @property
    def nodad(self) -> bool:
        """keepalived adds IPv6 VIPs without DAD (a new Master's VIP must be usable at once); ``-nodad`` on the
        entry asks for DAD after all."""
        return self.family == 6 and "-nodad" not in self.options


@dataclass(frozen=True, slots=True)
class UnicastPeer:
    address: str
    location: Location
    min_ttl: int | None = None
    max_ttl: int | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """One ``virtual_routes`` / ``static_routes`` line (``ip route`` syntax), typed by ``config.routes``.

    ``dst`` is resolved (``default`` is 0.0.0.0/0 or ::/0); ``table`` None is the main table.  ``options`` keeps,
    as written, what keepalived accepts and this model does not type (``proto``, ``mtu``, ``nexthop``, ...);
    ``words`` is the line as written, for messages and the interface checks.
    """

    words: tuple[str, ...]
    location: Location
    dst: IPNetwork
    type: str = "unicast"  # unicast, blackhole, unreachable, prohibit, ... (keepalived's route types)
    via: IPAddress | None = None
    dev: str | None = None
    src: IPAddress | None = None
    table: int | None = None  # as written: keepalived accepts numbers the kernel cannot hold
    metric: int | None = None
    scope: str | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``virtual_rules`` / ``static_rules`` line (``ip rule`` syntax), typed by ``config.routes``.

    ``src``/``dst`` None is ``all``; ``family`` (4 or 6) comes from them, else from the instance.  ``options``
    keeps, as written, what the model does not type (``not``, ``goto``, ``fwmark`` with a mask, ...).
    """

    words: tuple[str, ...]
    location: Location
    family: int = 4
    table: int | None = None
    src: IPNetwork | None = None
    dst: IPNetwork | None = None
    priority: int | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None
    options: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    name: str
    location: Location
    state: str = "BACKUP"  # initial state (keepalived's wantstate): MASTER only if configured and not in a
    # sync group with a non-owner member
    interface: str | None = None
    virtual_router_id: int | None = None
    priority: int = 100  # resolved: 255 when state MASTER is configured without a priority
    advert_int: float = 1.0
    version: int = 2  # resolved from global vrrp_version, 3 for IPv6
    family: int = 4
    nopreempt: bool = False
    preempt_delay: float = 0.0
    virtual_ipaddress: tuple[VirtualAddress, ...] = ()
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[Route, ...] = ()
    virtual_rules: tuple[Rule, ...] = ()
    unicast_src_ip: str | None = None
    unicast_peer: tuple[UnicastPeer, ...] = ()
    unicast_ttl: int = 255
    mcast_src_ip: str | None = None
    mcast_dst_ip: str | None = None
    auth_type: str | None = None  # PASS or AH
    auth_pass: str | None = None
    track_interface: tuple[TrackRef, ...] = ()
    track_script: tuple[TrackRef, ...] = ()
    track_file: tuple[TrackRef, ...] = ()
    track_process: tuple[TrackRef, ...] = ()
    dont_track_primary: bool = False
    accept: bool = True  # resolved: False under strict mode unless 'accept' given
    strict_mode: bool = False
    skip_check_adv_addr: bool = False
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_repeat: int = 5
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    notify: Notify = field(default_factory=Notify)
    notify_priority_changes: bool = False
    smtp_alert: bool | None = None
    use_vmac: str | None = None  # VMAC interface name ("" = keepalived's default vrrp.VRID)
    vmac_xmit_base: bool = False
    lvs_sync_daemon_interface: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class VsgEntry:
    """``virtual_server_group`` member: an address (or range ``a.b.c.d-e``) with port, or a fwmark."""

    location: Location
    address: str | None = None
    last: str | None = None  # end of a range, inclusive
    port: int = 0
    fwmark: int | None = None
    family: int = 4


@dataclass(frozen=True, slots=True)
class VirtualServerGroup:
    name: str
    location: Location
    entries: tuple[VsgEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class Url:
    location: Location
    path: str | None = None
    digest: str | None = None
    status_codes: tuple[tuple[int, int], ...] = ((200, 299),)
    virtualhost: str | None = None
    regex: str | None = None
    regex_no_match: bool = False
    extra: Extra = ()


@dataclass(frozen=True)  # no __slots__: build.fast_new fills __dict__ in one call (37k of these per big config)
class Checker:
    """One health checker with every timing already inherited (checker -> real server -> virtual server)."""

    kind: str  # TCP_CHECK, HTTP_GET, SSL_GET, SMTP_CHECK, DNS_CHECK, MISC_CHECK, UDP_CHECK, PING_CHECK, ...
    location: Location
    connect_ip: str | None = None
    connect_port: int | None = None
    bindto: str | None = None
    bind_if: str | None = None
    bind_port: int | None = None
    fwmark: int | None = None
    connect_timeout: float = 5.0
    retry: int = 1
    delay_before_retry: float = 1.0
    delay_loop: float = 60.0
    warmup: float | None = None
    alpha: bool = False
    log_all_failures: bool = False
    # HTTP_GET / SSL_GET
    urls: tuple[Url, ...] = ()
    http_protocol: str | None = None
    virtualhost: str | None = None
    fast_recovery: bool = False
    enable_sni: bool = False
    # SMTP_CHECK
    helo_name: str | None = None
    # DNS_CHECK
    dns_type: str = "SOA"
    dns_name: str = "."
    # MISC_CHECK
    misc_path: Script | None = None
    misc_timeout: float | None = None
    misc_dynamic: bool = False
    # UDP_CHECK
    payload: str | None = None
    require_reply: str | None = None
    min_reply_length: int = 0
    max_reply_length: int = 255
    # FILE_CHECK / BFD_CHECK
    track_file: str | None = None
    weight: int | None = None
    weight_reverse: bool = False
    dynamic: bool = False
    name: str | None = None
    extra: Extra = ()


@dataclass(frozen=True)  # no __slots__, see Checker
class RealServer:
    address: str
    port: int
    location: Location
    weight: int = 1
    lvs_method: str = "NAT"  # resolved from the virtual server when not set
    notify_up: Script | None = None
    notify_down: Script | None = None
    uthreshold: int = 0
    lthreshold: int = 0
    inhibit_on_failure: bool = False
    alpha: bool = False
    delay_loop: float = 60.0
    checkers: tuple[Checker, ...] = ()
    smtp_alert: bool | None = None
    virtualhost: str | None = None
    extra: Extra = ()


@dataclass(frozen=True, slots=True)
class SorryServer:
    address: str
    port: int
    location: Location


@dataclass(frozen=True, slots=True)
class VirtualServer:
    """An IPVS service: ``virtual_server IP PORT``, ``virtual_server fwmark N`` or ``virtual_server group NAME``."""

    location: Location
    address: str | None = None
    port: int = 0
    fwmark: int | None = None
    group: str | None = None
    family: int = 4
    protocol: str = "TCP"
    lvs_sched: str = "wlc"
    sched_flags: tuple[str, ...] = ()
    lvs_method: str = "NAT"
    tunnel_type: str | None = None
    persistence_timeout: int | None = None
    persistence_granularity: str | None = None
    persistence_engine: str | None = None
    ha_suspend: bool = False
    alpha: bool = False
    omega: bool = False
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    sorry_server: SorryServer | None = None
    sorry_server_inhibit: bool = False
    delay_loop: float = 60.0
    inhibit_on_failure: bool = False
    virtualhost: str | None = None
    smtp_alert: bool | None = None
    real_servers: tuple[RealServer, ...] = ()
    extra: Extra = ()

    @property
    def name(self) -> str:
        """keepalived's FMT_VS text: ``[ip]:tcp:80``, ``FWM 1`` or ``[group]:0``."""
        if self.group is not None:
            return f"[{self.group}]:{self.port}"
        if self.fwmark is not None:
            return f"FWM {self.fwmark}"
        return f"[{self.address}]:{self.protocol.lower()}:{self.port}"


@dataclass(frozen=True, slots=True)
class SslSettings:
    """The top-level ``SSL { }`` block: the client TLS context SSL_GET checkers use.

    All optional: without the block keepalived builds a context with no client certificate.
    """

    location: Location
    password: str | None = None
    ca: str | None = None
    certificate: str | None = None
    key: str | None = None


@dataclass(frozen=True, slots=True)
class GarpGroup:
    """``garp_group { }``: a GARP/NA rate limit (seconds between packets) shared by the listed interfaces.

    keepalived drops a group that sets neither interval (nothing to limit), so a built group has at least one.
    """

    location: Location
    garp_interval: float | None = None
    gna_interval: float | None = None
    interfaces: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LinkbeatInterface:
    """One line of ``linkbeat_interfaces { }``: poll this interface's link instead of trusting netlink.

    ``method`` is MII, ETHTOOL or IOCTL; None lets keepalived probe them in that order.
    """

    name: str
    location: Location
    method: str | None = None


@dataclass(frozen=True, slots=True)
class TrackGroup:
    """``track_group NAME { group { VI_1 ... } }``: instances a static address/route/rule puts into fault."""

    name: str
    location: Location
    group: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BfdInstance:
    """``bfd_instance NAME { }``: an RFC 5880 session. Times in milliseconds (keepalived keeps microseconds).

    ``ttl`` is None for keepalived's default (255, the single-hop GTSM value); ``hoplimit`` is the same setting.
    ``max_hops`` -1 accepts any hop count (up to 255); a value above the ttl is capped to it, with an error.
    ``vrrp``/``checker`` restrict event delivery to that child; neither set means both get them.
    """

    name: str
    location: Location
    neighbor_ip: str | None = None
    source_ip: str | None = None
    min_rx: float = 10.0
    min_tx: float = 10.0
    idle_tx: float = 1000.0
    multiplier: int = 5
    passive: bool = False
    ttl: int | None = None
    max_hops: int = 0
    weight: int = 0
    vrrp: bool = False
    checker: bool = False


@dataclass(frozen=True, slots=True)
class KeepalivedConfig:
    """The whole resolved configuration."""

    files: tuple[str, ...] = ()
    global_defs: GlobalDefs = field(default_factory=GlobalDefs)
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    track_processes: tuple[TrackProcess, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    sync_groups: tuple[VrrpSyncGroup, ...] = ()
    vrrp_instances: tuple[VrrpInstance, ...] = ()
    virtual_server_groups: tuple[VirtualServerGroup, ...] = ()
    virtual_servers: tuple[VirtualServer, ...] = ()
    static_ipaddress: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[Route, ...] = ()
    static_rules: tuple[Rule, ...] = ()
    extra: Extra = ()  # top-level process settings (net_namespace, instance, ...) and unmodelled blocks
    # the blocks below are optional; a config without them gets keepalived's behaviour (no SSL client cert, ...)
    ssl: SslSettings | None = None
    garp_groups: tuple[GarpGroup, ...] = ()
    linkbeat_interfaces: tuple[LinkbeatInterface, ...] = ()
    track_groups: tuple[TrackGroup, ...] = ()
    bfd_instances: tuple[BfdInstance, ...] = ()
