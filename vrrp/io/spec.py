"""What the VRRP process runs, resolved: per instance the router's settings plus its I/O (interfaces, sockets,
VIPs, routes, rules, VMAC, trackers, notify, GARP schedule), the sync groups and the process tuning.

Why here: these are the VRRP shell's inputs, so they live beside the shell (``vrrp.io.driver``) and import nothing
from the configuration layer.  ``pykeepalived.daemon.settings`` is the one mapping that builds them from a
keepalived.conf model, checking everything that can be checked without touching the host.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

from vrrp.core.config import RouterConfig, RouterConfigError
from vrrp.core.packet import AUTH_NONE, MULTICAST_V4, MULTICAST_V6
from vrrp.core.tracking import Tracker
from vrrp.io.addresses import VirtualAddress, VirtualRoute, VirtualRule
from vrrp.io.garp import AnnouncementSchedule
from vrrp.io.notify import NotifyScripts
from vrrp.io.realtime import ProcessSettings
from vrrp.io.scripts import Script
from vrrp.io.trackers import FileTrackerSettings, ProcessTrackerSettings, ScriptTrackerSettings
from vrrp.io.vmac import VmacSpec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SettingsError(ValueError):
    """The configuration cannot be run; the message starts with ``FILE:LINE:`` of the offending block."""


@dataclass(frozen=True)
class InstanceSettings:
    """One ``vrrp_instance``, resolved.

    ``interface`` is where adverts are sent and received and where VIPs without ``dev`` live (the VMAC
    when ``use_vmac``); ``parent_interface`` is the configured ``interface``.  ``src_ip`` is the configured
    ``unicast_src_ip`` / ``mcast_src_ip`` (None: the interface's primary address at run time).
    ``tracked_interfaces`` maps interface name -> router tracker name; ``tracked_scripts`` /
    ``tracked_files`` / ``tracked_processes`` map the tracker block's name the same way.
    """

    name: str
    where: str
    interface: str
    parent_interface: str
    family: int
    vrid: int
    priority: int
    version: int
    advert_int_cs: int
    initial_state: str = "BACKUP"
    preempt: bool = True
    preempt_delay_us: int = 0
    accept: bool = True
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    garp_lower_prio_repeat: int = 0
    #: seconds between the two bursts after a lower-priority advert (keepalived's ``garp_lower_prio_delay``)
    garp_lower_prio_delay: float = 0.0
    down_timer_adverts: int = 3
    auth_type: int = AUTH_NONE
    auth_pass: bytes = b""
    v3_checksum_as_v2: bool = False
    strict_mode: bool = False
    vips: tuple[VirtualAddress, ...] = ()
    excluded_vips: tuple[VirtualAddress, ...] = ()
    routes: tuple[VirtualRoute, ...] = ()
    rules: tuple[VirtualRule, ...] = ()
    src_ip: IPAddress | None = None
    unicast_peers: tuple[IPAddress, ...] = ()
    #: TTL / hop limit of the adverts sent to unicast peers (keepalived's ``unicast_ttl``; multicast is always 255)
    unicast_ttl: int = 255
    mcast_group: IPAddress | None = None
    vmac: VmacSpec | None = None
    trackers: tuple[Tracker, ...] = ()
    tracked_interfaces: dict[str, str] = field(default_factory=dict)
    tracked_scripts: dict[str, str] = field(default_factory=dict)
    tracked_files: dict[str, str] = field(default_factory=dict)
    tracked_processes: dict[str, str] = field(default_factory=dict)
    notify: NotifyScripts = field(default_factory=NotifyScripts)
    notify_priority_changes: bool = False
    garp: AnnouncementSchedule = field(default_factory=AnnouncementSchedule)
    garp_repeat: int = 5
    #: keepalived <= 1.3.6 computed the v3 unicast IPv4 checksum over the multicast group, not the peer:
    #: "auto" (default: switch to it when a peer is seen using it), "never", "always" (``old_unicast_checksum``)
    old_unicast_checksum: str = "auto"

    @property
    def af(self) -> int:
        """socket.AF_INET or socket.AF_INET6."""
        return socket.AF_INET if self.family == 4 else socket.AF_INET6

    @property
    def unicast(self) -> bool:
        return bool(self.unicast_peers)

    @property
    def dst_group(self) -> IPAddress:
        """The multicast destination of adverts."""
        if self.mcast_group is not None:
            return self.mcast_group
        return MULTICAST_V4 if self.family == 4 else MULTICAST_V6

    def router_config(self, primary: IPAddress) -> RouterConfig:
        """The sans-IO router's settings, once the source address is known."""
        try:
            return RouterConfig(
                vrid=self.vrid,
                primary_address=primary,
                virtual_ipaddress=tuple(v.address.ip for v in self.vips),
                name=self.name,
                priority=self.priority,
                version=self.version,
                advert_int_cs=self.advert_int_cs,
                preempt=self.preempt,
                preempt_delay_us=self.preempt_delay_us,
                accept=self.accept,
                lower_prio_no_advert=self.lower_prio_no_advert,
                higher_prio_send_advert=self.higher_prio_send_advert,
                garp_lower_prio_repeat=self.garp_lower_prio_repeat,
                garp_lower_prio_delay_us=round(self.garp_lower_prio_delay * 1_000_000),
                unicast_peer=self.unicast_peers,
                down_timer_adverts=self.down_timer_adverts,
                garp_master_repeat=self.garp_repeat,
                auth_type=self.auth_type,
                auth_pass=self.auth_pass,
                v3_checksum_as_v2=self.v3_checksum_as_v2,
                strict_mode=self.strict_mode,
                trackers=self.trackers,
                install_addresses=(*self.vips, *self.excluded_vips),
                virtual_routes=self.routes,
                virtual_rules=self.rules,
                garp_interval_us=round(self.garp.interval * 1_000_000),
                garp_master_delay_us=round(self.garp.delay * 1_000_000),
                garp_master_refresh_us=round(self.garp.refresh * 1_000_000),
                garp_master_refresh_repeat=self.garp.refresh_repeat,
            )
        except RouterConfigError as exc:
            raise SettingsError(f"{self.where}: vrrp_instance {self.name}: {exc}") from None


@dataclass(frozen=True)
class SyncGroupSettings:
    name: str
    where: str
    members: tuple[str, ...]
    notify: NotifyScripts = field(default_factory=NotifyScripts)


@dataclass(frozen=True)
class DaemonSettings:
    """Everything the VRRP process needs, resolved from one configuration."""

    instances: tuple[InstanceSettings, ...]
    sync_groups: tuple[SyncGroupSettings, ...] = ()
    scripts: tuple[ScriptTrackerSettings, ...] = ()
    files: tuple[FileTrackerSettings, ...] = ()
    processes: tuple[ProcessTrackerSettings, ...] = ()
    script_security: bool = False
    notify_fifos: tuple[tuple[str, Script | None], ...] = ()
    router_id: str | None = None
    process: ProcessSettings = field(default_factory=ProcessSettings)
    #: global ``static_ipaddress`` / ``static_routes`` / ``static_rules``: set at start, removed at stop, whatever
    #: the instances' states (keepalived's documentation: "addresses that are not moved by VRRP")
    static_addresses: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[VirtualRoute, ...] = ()
    static_rules: tuple[VirtualRule, ...] = ()
