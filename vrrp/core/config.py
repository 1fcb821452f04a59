"""Typed settings of one virtual router (one keepalived ``vrrp_instance``).

Field names follow keepalived's keywords so the keepalived.conf parser can map them one to one; where
keepalived uses a negative keyword (``nopreempt``, ``no_accept``) the field holds the positive sense.
Durations are integers: the advertisement interval in centiseconds (its wire unit in VRRPv3), everything else
in microseconds.

Defaults are RFC 9568's where keepalived and the RFC agree; where they differ the field docstring says which
one we chose and what the parser must pass to get keepalived's behaviour.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from vrrp.core.packet import (
    AUTH_AH,
    AUTH_NONE,
    AUTH_PASS,
    CHECKSUM_RFC5798,
    CHECKSUM_RFC9568,
    VRIDS,
    ChecksumForm,
    pass_auth_data,
)
from vrrp.core.specs import VirtualAddress, VirtualRoute, VirtualRule
from vrrp.core.timers import DEFAULT_DOWN_TIMER_ADVERTS
from vrrp.core.tracking import PRIORITY_OWNER, Tracker

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = [
    "AUTH_AH",
    "AUTH_NONE",
    "AUTH_PASS",
    "IPAddress",
    "RouterConfig",
    "RouterConfigError",
    "first_vip_not_link_local",
]


def first_vip_not_link_local(vips: Sequence[IPAddress], *, unicast: bool) -> bool:
    """True when an IPv6 multicast instance's first VIP is not link-local (RFC 9568 §5.2.9, erratum 8300).

    keepalived's rule (vrrp.c, the instance completion check): only multicast IPv6 instances are checked; with
    ``vrrp_strict`` it is a configuration error ("the first IPv6 VIP address must be link local"), otherwise an
    informational message ("... should be link local").  The configuration layer reports it at file:line and
    :class:`RouterConfig` refuses it in strict mode, both through this one function.
    """
    return not unicast and bool(vips) and vips[0].version == 6 and not vips[0].is_link_local


class RouterConfigError(ValueError):
    """Invalid router settings; ``field`` names the offending setting (keepalived keyword)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name


@dataclass(frozen=True)
class RouterConfig:
    """Settings of one VRRP instance.

    Attributes (keepalived keyword in brackets):
        name: instance name [``vrrp_instance NAME``].
        vrid: Virtual Router ID 1..255 [``virtual_router_id``]; no default, as in the RFC.
        primary_address: the address we send from and compare in the tie-break (interface primary IPv4, or the
            IPv6 link-local) [``mcast_src_ip`` / ``unicast_src_ip``, else the interface's address].
        virtual_ipaddress: the VIPs, all one family [``virtual_ipaddress``].  For IPv6 the first should be
            link-local (RFC 9568 §5.2.9).
        priority: base priority 1..255, 255 = address owner [``priority``]; default 100.
        version: 2 or 3 [``version`` / ``vrrp_version``].  Default 3 (RFC 9568); keepalived's global default
            is 2 for IPv4, so the parser must pass it explicitly.
        advert_int_cs: Advertisement_Interval in centiseconds [``advert_int`` × 100]; default 100 (1 s).  v2
            allows whole seconds only (100..25500).
        preempt: RFC Preempt_Mode [``nopreempt`` sets False]; default True.
        preempt_delay_us: keepalived ``preempt_delay`` (0..1000 s) in µs: after the first lower-priority
            advert seen as Backup, keep accepting the lower-priority Master this long before preempting.  A
            higher- or equal-priority advert cancels the delay; a lower Master that returns starts it again
            (keepalived 2.2.7, tests/interop/test_interop_preempt_delay.py).
        accept: RFC Accept_Mode [``accept`` / ``no_accept``].  Default False (RFC); keepalived defaults to
            True unless ``vrrp_strict``; the parser must pass that.  The owner always accepts.
        lower_prio_no_advert: keepalived ``lower_prio_no_advert``: a Master that receives a lower-priority
            advert does *not* re-advertise immediately (pre-RFC 9568 behaviour).  Default False (RFC 9568).
        higher_prio_send_advert: keepalived ``higher_prio_send_advert``: a Master that yields to a higher
            priority first sends one advert of its own, so a peer that missed ours (split brain) hears it.
            Default False.
        garp_lower_prio_repeat: keepalived ``garp_lower_prio_repeat``: gratuitous ARPs / NAs per VIP a Master
            sends when it receives a lower-priority advert (refreshing ARP caches after a split brain); 0 (the
            default here) sends none.  Sync-group members that are Master send theirs too.
        garp_lower_prio_delay_us: keepalived ``garp_lower_prio_delay``: another ``garp_lower_prio_repeat``
            burst this long after the first (keepalived's default 5 s must be passed by the parser; 0 here:
            none). After a split brain heals, the losing Master may still send the delayed burst of its own
            takeover (``garp_master_delay``) just before it yields: this second burst of the winner is what
            takes the clients' ARP caches back (keepalived 2.2.7 ``vrrp_state_master_rx``).
        owner_ignore_adverts: keepalived ``owner_ignore_adverts``: the address owner (priority 255) ignores
            every received advert.  Default False.
        unicast_peer: if non-empty, adverts from other sources are discarded [``unicast_peer``].
        down_timer_adverts: Master_Down_Interval multiplier [``down_timer_adverts``], default 3 (RFC).
        garp_master_repeat: gratuitous ARPs / unsolicited NAs per VIP on becoming Master
            [``garp_master_repeat``], default 5 (keepalived).
        auth_type / auth_pass: VRRPv2 authentication [``authentication { auth_type PASS; auth_pass X }``];
            only checked for v2.  ``auth_pass`` is padded with NULs to 8 bytes as keepalived does.
        v3_checksum_as_v2: send the v3 IPv4 checksum without the pseudo-header (RFC 9568)
            [``v3_checksum_as_v2``].  Default False: keepalived's and FRR's RFC 5798 form.  Receive accepts
            both either way.
        check_vip_list: v2 only: discard an advert whose address list differs from ours (RFC 3768 §7.1, MUST
            when the sender is not the owner).  Default True.
        strict_mode: keepalived ``strict_mode`` / ``vrrp_strict``: refuse what the RFC forbids instead of
            reporting it; here, an IPv6 multicast instance whose first VIP is not link-local (RFC 9568
            §5.2.9).  Default False (keepalived only logs it then).
        trackers: weighted trackers [``track_interface`` / ``track_script`` / ``track_file`` / ...].
        install_addresses / virtual_routes / virtual_rules: what a Master installs on the host
            [``virtual_ipaddress`` and ``virtual_ipaddress_excluded`` entries with their options,
            ``virtual_routes``, ``virtual_rules``]; carried in ``AddVips`` / ``RemoveVips`` so the shell reads
            nothing else.  Empty by default (the simulator models only ``virtual_ipaddress``).
        garp_interval_us: time between gratuitous ARP / NA rounds [``vrrp_garp_interval`` / ``vrrp_gna_interval``].
        garp_master_delay_us: a second burst this long after becoming Master [``garp_master_delay``]; default 0
            (none) here, keepalived's 5 s must be passed by the parser.
        garp_master_refresh_us / garp_master_refresh_repeat: rounds repeated while Master
            [``garp_master_refresh`` / ``garp_master_refresh_repeat``]; 0 (the default) disables them.
    """

    vrid: int
    primary_address: IPAddress
    virtual_ipaddress: tuple[IPAddress, ...]
    name: str = "VI_1"
    priority: int = 100
    version: int = 3
    advert_int_cs: int = 100
    preempt: bool = True
    preempt_delay_us: int = 0
    accept: bool = False
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    garp_lower_prio_repeat: int = 0
    garp_lower_prio_delay_us: int = 0
    owner_ignore_adverts: bool = False
    unicast_peer: tuple[IPAddress, ...] = ()
    down_timer_adverts: int = DEFAULT_DOWN_TIMER_ADVERTS
    garp_master_repeat: int = 5
    auth_type: int = AUTH_NONE
    auth_pass: bytes = b""
    v3_checksum_as_v2: bool = False
    check_vip_list: bool = True
    strict_mode: bool = False
    trackers: tuple[Tracker, ...] = field(default=())
    install_addresses: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[VirtualRoute, ...] = ()
    virtual_rules: tuple[VirtualRule, ...] = ()
    garp_interval_us: int = 0
    garp_master_delay_us: int = 0
    garp_master_refresh_us: int = 0
    garp_master_refresh_repeat: int = 1

    def __post_init__(self) -> None:
        self.validate()

    @property
    def family(self) -> int:
        """Address family of the instance: 4 or 6."""
        return self.primary_address.version

    @property
    def owner(self) -> bool:
        """True for the address owner (priority 255)."""
        return self.priority == PRIORITY_OWNER

    @property
    def announced_addresses(self) -> tuple[IPAddress, ...]:
        """The addresses gratuitous ARPs / NAs announce: every installed one, else the VIP list."""
        if self.install_addresses:
            return tuple(dict.fromkeys(v.address.ip for v in self.install_addresses))
        return self.virtual_ipaddress

    @property
    def auth_data(self) -> bytes:
        """The 8 bytes of v2 authentication data we send and expect."""
        if self.auth_type == AUTH_PASS:
            return pass_auth_data(self.auth_pass)
        return bytes(8)

    @property
    def checksum_form(self) -> ChecksumForm:
        """Transmit form of the v3 IPv4 checksum."""
        return CHECKSUM_RFC9568 if self.v3_checksum_as_v2 else CHECKSUM_RFC5798

    def validate(self) -> None:
        """Raise RouterConfigError naming the keepalived keyword of the first invalid setting."""
        if self.vrid not in VRIDS:
            raise RouterConfigError("virtual_router_id", f"must be 1..255, not {self.vrid}")
        if not 1 <= self.priority <= 255:
            raise RouterConfigError("priority", f"must be 1..255, not {self.priority}")
        if self.version not in (2, 3):
            raise RouterConfigError("version", f"must be 2 or 3, not {self.version}")
        if self.version == 2:
            if self.family != 4:
                raise RouterConfigError("version", "VRRPv2 is IPv4 only; use version 3 for IPv6")
            if self.advert_int_cs % 100 or not 100 <= self.advert_int_cs <= 25500:
                raise RouterConfigError(
                    "advert_int", f"VRRPv2 needs whole seconds 1..255, not {self.advert_int_cs / 100:g} s"
                )
        elif not 1 <= self.advert_int_cs <= 4095:
            raise RouterConfigError("advert_int", f"VRRPv3 needs 0.01..40.95 s, not {self.advert_int_cs / 100:g} s")
        if not self.virtual_ipaddress:
            raise RouterConfigError("virtual_ipaddress", "at least one address is required")
        families = {a.version for a in self.virtual_ipaddress}
        if families != {self.family}:
            raise RouterConfigError(
                "virtual_ipaddress", f"addresses must all be IPv{self.family} like the source address"
            )
        if self.strict_mode and first_vip_not_link_local(self.virtual_ipaddress, unicast=bool(self.unicast_peer)):
            raise RouterConfigError(
                "virtual_ipaddress",
                f"the first IPv6 VIP address must be link local (RFC 9568 §5.2.9, strict mode), "
                f"not {self.virtual_ipaddress[0]}",
            )
        if any(a.version != self.family for a in self.unicast_peer):
            raise RouterConfigError("unicast_peer", f"peers must be IPv{self.family}")
        if not 0 <= self.preempt_delay_us <= 1000 * 1_000_000:
            raise RouterConfigError("preempt_delay", "must be 0..1000 s")
        if not 1 <= self.down_timer_adverts <= 100:
            raise RouterConfigError("down_timer_adverts", f"must be 1..100, not {self.down_timer_adverts}")
        if self.garp_master_repeat < 0:
            raise RouterConfigError("garp_master_repeat", "must not be negative")
        if self.garp_lower_prio_repeat < 0:
            raise RouterConfigError("garp_lower_prio_repeat", "must not be negative")
        for name in ("garp_interval_us", "garp_master_delay_us", "garp_master_refresh_us", "garp_lower_prio_delay_us"):
            if getattr(self, name) < 0:
                raise RouterConfigError(name.removesuffix("_us"), "must not be negative")
        if self.garp_master_refresh_repeat < 1:
            raise RouterConfigError("garp_master_refresh_repeat", "must be at least 1")
        if self.auth_type not in (AUTH_NONE, AUTH_PASS, AUTH_AH):
            raise RouterConfigError("auth_type", f"must be PASS or AH, not {self.auth_type}")
        names = [t.name for t in self.trackers]
        if len(names) != len(set(names)):
            raise RouterConfigError("track", "a tracker is listed twice")
