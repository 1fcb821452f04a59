"""From the keepalived.conf model to what the VRRP process runs: router settings plus I/O settings.

Why a separate mapping: the config model (``pykeepalived.config.model``) mirrors keepalived's keywords and
keeps strings; the sans-IO router (``vrrp.core.config.RouterConfig``) and the I/O edge (``vrrp.io.addresses``,
``vrrp.io.vmac``, ``vrrp.io.trackers``, ``vrrp.io.notify``) want typed values.  Everything that can be checked without
touching the host is checked here, and every problem becomes a :class:`SettingsError` naming the file and line
of the offending block, so bad input never reaches the daemon as a traceback.

Only the router's ``primary_address`` is left open: it is the interface's primary IPv4 / IPv6 link-local
address, known only at run time (``InstanceSettings.router_config(primary)``).

Tracker names in the router are ``"<kind> <name>"`` (``interface eth0``, ``script chk``, ``file f``,
``process p``), so one instance can track an interface and a script that share a name.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field

from pykeepalived.config import model
from pykeepalived.config.model import KeepalivedConfig
from vrrp.core.packet import AUTH_AH, AUTH_NONE, AUTH_PASS
from vrrp.core.tracking import Tracker
from vrrp.io.addresses import ROUTE_TYPES, RT_TABLE_MAIN, VirtualAddress, VirtualRoute, VirtualRule, parse_scope
from vrrp.io.garp import AnnouncementSchedule
from vrrp.io.notify import NotifyScripts
from vrrp.io.realtime import ProcessSettingsError, parse_process_settings
from vrrp.io.scripts import Script, ScriptError, ScriptUser, resolve_user, secure_default_user
from vrrp.io.spec import DaemonSettings, InstanceSettings, SettingsError, SyncGroupSettings
from vrrp.io.trackers import (
    FileTrackerSettings,
    ParamMatch,
    ProcessTrackerSettings,
    ScriptTrackerSettings,
    TrackerConfigError,
)
from vrrp.io.vmac import VmacSpec

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

__all__ = [
    "FIELD_USE",
    "GLOBAL_FIELDS",
    "INSTANCE_FIELDS",
    "ROUTE_FIELDS",
    "RULE_FIELDS",
    "DaemonSettings",
    "FieldUse",
    "InstanceSettings",
    "SettingsError",
    "SyncGroupSettings",
    "build_settings",
    "tracker_name",
]


@dataclass(frozen=True)
class FieldUse:
    """What this mapping does with every field of one config-model class, so nothing is parsed and then dropped.

    ``consumed``: the mapping reads the field and what the daemon runs depends on it (the unit tests change each
    one and check that the output changes).  ``resolved``: the config builder already folded the field into
    another model field, named here (a global default into each instance); the tests write the keyword and check
    that field.  ``without_effect``: accepted so keepalived's configurations load, with the reason it does
    nothing yet (the tests change each one and check that the output does *not* change).  One table per model
    class; virtual servers and checkers get theirs when their mapping comes.  ``lvs_sync_daemon`` (and the
    instance's deprecated ``lvs_sync_daemon_interface``) are read by ``pykeepalived.daemon.syncd.build_syncd``,
    the sync daemon's own mapping (it needs ``ipvs``' types, which the VRRP settings must not carry).
    """

    model: type
    consumed: frozenset[str]
    resolved: Mapping[str, str] = field(default_factory=dict)
    without_effect: Mapping[str, str] = field(default_factory=dict)


_NO_SMTP = "no SMTP alerts yet (keepalived's smtp_alert): accepted so configurations load"
_NO_IPVS = "belongs to the checker/IPVS process, which is not implemented yet"

INSTANCE_FIELDS = FieldUse(
    model.VrrpInstance,
    consumed=frozenset({
        "name", "location", "state", "interface", "virtual_router_id", "priority", "advert_int", "version",
        "family", "nopreempt", "preempt_delay", "virtual_ipaddress", "virtual_ipaddress_excluded",
        "virtual_routes", "virtual_rules", "unicast_src_ip", "unicast_peer", "unicast_ttl", "mcast_src_ip",
        "mcast_dst_ip", "auth_type", "auth_pass", "track_interface", "track_script", "track_file",
        "track_process", "dont_track_primary", "accept", "garp_master_delay", "garp_master_repeat",
        "garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_repeat", "garp_lower_prio_delay",
        "down_timer_adverts",
        "lower_prio_no_advert", "higher_prio_send_advert", "notify", "notify_priority_changes", "use_vmac",
        "extra", "strict_mode", "lvs_sync_daemon_interface",
    }),
    without_effect={
        "skip_check_adv_addr": "the v2 address list is always checked (RFC 3768 §7.1); skipping it is not "
                               "implemented yet",
        "smtp_alert": _NO_SMTP,
        "vmac_xmit_base": "adverts always go out of the VMAC; sending them from the base interface is not "
                          "implemented yet",
    },
)

GLOBAL_FIELDS = FieldUse(
    model.GlobalDefs,
    consumed=frozenset({
        "router_id", "script_user", "script_group", "enable_script_security", "vrrp_mcast_group4",
        "vrrp_mcast_group6", "vrrp_garp_interval", "vrrp_gna_interval", "extra", "lvs_sync_daemon",
    }),
    resolved={
        "vrrp_version": "version", "vrrp_garp_master_delay": "garp_master_delay",
        "vrrp_garp_master_repeat": "garp_master_repeat", "vrrp_garp_master_refresh": "garp_master_refresh",
        "vrrp_garp_master_refresh_repeat": "garp_master_refresh_repeat",
        "vrrp_garp_lower_prio_delay": "garp_lower_prio_delay", "vrrp_garp_lower_prio_repeat": "garp_lower_prio_repeat",
        "vrrp_down_timer_adverts": "down_timer_adverts", "vrrp_lower_prio_no_advert": "lower_prio_no_advert",
        "vrrp_higher_prio_send_advert": "higher_prio_send_advert", "vrrp_skip_check_adv_addr": "skip_check_adv_addr",
        "vrrp_strict": "strict_mode", "default_interface": "interface",
    },
    without_effect={
        "notification_email": _NO_SMTP, "notification_email_from": _NO_SMTP, "smtp_server": _NO_SMTP,
        "smtp_port": _NO_SMTP, "smtp_connect_timeout": _NO_SMTP, "smtp_helo_name": _NO_SMTP,
        "smtp_alert": _NO_SMTP, "smtp_alert_vrrp": _NO_SMTP, "smtp_alert_checker": _NO_SMTP,
        "vrrp_min_garp": "not implemented yet (keepalived's shorthand for one GARP and no refresh)",
        "vrrp_check_unicast_src": "the source of a unicast advert is always checked against unicast_peer, as if "
                                  "this were set",
        "vrrp_startup_delay": "not implemented yet: instances start at once",
        "dynamic_interfaces": "only switches off -t's interface checks; the daemon waits for no interface",
        "lvs_flush": _NO_IPVS, "lvs_timeouts": _NO_IPVS,
        "max_auto_priority": "realtime priorities are set only by vrrp_rt_priority (keepalived's automatic "
                             "priority raise is not implemented)",
        "random_seed": "used by the config preprocessor (~SEQ / random), which is done before the mapping",
    },
)

_AS_WRITTEN = "the line as written: named in the daemon's messages only"

ROUTE_FIELDS = FieldUse(
    model.Route,
    consumed=frozenset({"dst", "type", "via", "dev", "src", "table", "metric", "scope", "options"}),
    without_effect={"words": _AS_WRITTEN, "location": _AS_WRITTEN},
)

RULE_FIELDS = FieldUse(
    model.Rule,
    consumed=frozenset({"family", "table", "src", "dst", "priority", "iif", "oif", "fwmark", "options"}),
    without_effect={"words": _AS_WRITTEN, "location": _AS_WRITTEN},
)

#: every model class the mapping covers, with what it does with each field (see FieldUse)
FIELD_USE: tuple[FieldUse, ...] = (INSTANCE_FIELDS, GLOBAL_FIELDS, ROUTE_FIELDS, RULE_FIELDS)


def tracker_name(kind: str, name: str) -> str:
    """The router's name for a tracker: ``interface eth0``, ``script chk``, ``file f``, ``process p``."""
    return f"{kind} {name}"


def _table(table: int, *, lowest: int = 0) -> int:
    """A routing table id: the kernel's FRA_TABLE / RTA_TABLE is 32 bits, so a bigger number would only fail
    at netlink, long after start-up (the config layer reports it too, with keepalived's message).  A rule
    cannot point at table 0 (``lowest=1``: keepalived's "Table 0 is not valid", and the kernel's EINVAL)."""
    if not lowest <= table <= 2**32 - 1:
        raise ValueError(f"routing table {table} out of range ({lowest}..{2**32 - 1})")
    return table


def _extra_has(extra: model.Extra, keyword: str) -> bool:
    return any(k == keyword for k, _ in extra)


def _extra_value(extra: model.Extra, keyword: str) -> tuple[str, ...] | None:
    for k, v in extra:
        if k == keyword:
            return v
    return None


class _Builder:
    def __init__(self, cfg: KeepalivedConfig) -> None:
        self.cfg = cfg
        g = cfg.global_defs
        self.script_security = g.enable_script_security
        self._default_user: ScriptUser | None = None
        self.scripts = {s.name: s for s in cfg.vrrp_scripts}
        self.files = {f.name: f for f in cfg.track_files}
        self.processes = {p.name: p for p in cfg.track_processes}
        self.group_of: dict[str, model.VrrpSyncGroup] = {}
        for sg in cfg.sync_groups:
            for member in sg.group:
                self.group_of[member] = sg

    def default_user(self) -> ScriptUser | None:
        """The user of scripts that name none; None when script security is on and no unprivileged user can
        be set (no ``script_user``, no ``keepalived_script``): such scripts are refused, never run as root
        (``vrrp.io.scripts.script_refusal``, the check ``-t`` reports with)."""
        if self._default_user is None:
            g = self.cfg.global_defs
            try:
                self._default_user = secure_default_user(g.script_user, g.script_group,
                                                         script_security=self.script_security)
            except ScriptError as exc:
                raise SettingsError(f"global_defs: script_user: {exc}") from None
        return self._default_user

    def script(self, s: model.Script | None, where: str) -> Script | None:
        if s is None:
            return None
        try:
            user = resolve_user(s.user, s.group) if s.user else self.default_user()
            return Script(tuple(s.argv), user)
        except ScriptError as exc:
            raise SettingsError(f"{where}: {exc}") from None

    def notify(self, n: model.Notify, where: str) -> NotifyScripts:
        return NotifyScripts(
            master=self.script(n.master, where),
            backup=self.script(n.backup, where),
            fault=self.script(n.fault, where),
            stop=self.script(n.stop, where),
            deleted=self.script(n.deleted, where),
            generic=self.script(n.notify, where),
            master_rx_lower_pri=self.script(n.master_rx_lower_pri, where),
        )

    # -------------------------------------------------------------- trackers
    def script_settings(self) -> tuple[ScriptTrackerSettings, ...]:
        out = []
        for s in self.cfg.vrrp_scripts:
            where = f"{s.location}: vrrp_script {s.name}"
            script = self.script(s.script, where)
            if script is None:
                raise SettingsError(f"{where}: no script given")
            try:
                out.append(
                    ScriptTrackerSettings(
                        name=s.name, script=script, interval=s.interval, timeout=s.timeout, weight=s.weight,
                        weight_reverse=s.weight_reverse, rise=s.rise, fall=s.fall, init_fail=s.init_fail,
                    )
                )
            except (TrackerConfigError, ValueError) as exc:
                raise SettingsError(f"{s.location}: {exc}") from None
        return tuple(out)

    def file_settings(self) -> tuple[FileTrackerSettings, ...]:
        from pathlib import Path

        out = []
        for f in self.cfg.track_files:
            if not f.file:
                raise SettingsError(f"{f.location}: track_file {f.name}: no file given")
            try:
                out.append(
                    FileTrackerSettings(
                        name=f.name, path=Path(f.file), weight=f.weight, weight_reverse=f.weight_reverse,
                        init_value=f.init_value if f.init_file else None, init_overwrite=f.init_overwrite,
                    )
                )
            except (TrackerConfigError, ValueError) as exc:
                raise SettingsError(f"{f.location}: {exc}") from None
        return tuple(out)

    def process_settings(self) -> tuple[ProcessTrackerSettings, ...]:
        out = []
        for p in self.cfg.track_processes:
            if not p.process:
                raise SettingsError(f"{p.location}: vrrp_track_process {p.name}: no process given")
            try:
                match = ParamMatch(p.param_match) if p.args or p.param_match != "exact" else None
                out.append(
                    ProcessTrackerSettings(
                        name=p.name, process=p.process, params=tuple(p.args), param_match=match,
                        full_command=p.full_command, weight=p.weight, weight_reverse=p.weight_reverse,
                        quorum=p.quorum, quorum_max=p.quorum_max, fork_delay=p.fork_delay,
                        terminate_delay=p.terminate_delay,
                    )
                )
            except (TrackerConfigError, ValueError) as exc:
                raise SettingsError(f"{p.location}: {exc}") from None
        return tuple(out)

    def trackers(
        self, inst: model.VrrpInstance, where: str
    ) -> tuple[tuple[Tracker, ...], dict[str, str], dict[str, str], dict[str, str], dict[str, str]]:
        sg = self.group_of.get(inst.name)
        weighted = sg is None or sg.sync_group_tracking_weight
        trackers: dict[str, Tracker] = {}
        ifaces: dict[str, str] = {}
        scripts: dict[str, str] = {}
        files: dict[str, str] = {}
        procs: dict[str, str] = {}

        def add(t: Tracker) -> None:
            if t.name not in trackers:
                trackers[t.name] = t

        def weight(w: int) -> int:
            return w if weighted else 0

        refs_if = list(inst.track_interface) + (list(sg.track_interface) if sg else [])
        refs_sc = list(inst.track_script) + (list(sg.track_script) if sg else [])
        refs_fi = list(inst.track_file) + (list(sg.track_file) if sg else [])
        refs_pr = list(inst.track_process) + (list(sg.track_process) if sg else [])
        try:
            if not inst.dont_track_primary and inst.interface:
                name = tracker_name("interface", inst.interface)
                add(Tracker(name, weight=0))
                ifaces[inst.interface] = name
            for ref in refs_if:
                name = tracker_name("interface", ref.name)
                if name in trackers:
                    continue
                add(Tracker(name, weight=weight(ref.weight or 0), reverse=ref.reverse))
                ifaces[ref.name] = name
            for ref in refs_sc:
                s = self.scripts.get(ref.name)
                if s is None:
                    raise SettingsError(f"{ref.location}: {where}: track_script {ref.name}: no such vrrp_script")
                name = tracker_name("script", ref.name)
                w = s.weight if ref.weight is None else ref.weight
                add(Tracker(name, weight=weight(w), reverse=ref.reverse or s.weight_reverse,
                            initial_up=not s.init_fail))
                scripts[ref.name] = name
            for ref in refs_fi:
                f = self.files.get(ref.name)
                if f is None:
                    raise SettingsError(f"{ref.location}: {where}: track_file {ref.name}: no such track_file")
                name = tracker_name("file", ref.name)
                w = f.weight if ref.weight is None else ref.weight
                add(Tracker(name, weight=weight(w), reverse=ref.reverse or f.weight_reverse, kind="value",
                            initial_value=f.init_value if f.init_file else 0))
                files[ref.name] = name
            for ref in refs_pr:
                p = self.processes.get(ref.name)
                if p is None:
                    raise SettingsError(
                        f"{ref.location}: {where}: track_process {ref.name}: no such vrrp_track_process"
                    )
                name = tracker_name("process", ref.name)
                w = p.weight if ref.weight is None else ref.weight
                # keepalived assumes a tracked process is down until the first scan says otherwise
                add(Tracker(name, weight=weight(w), reverse=ref.reverse or p.weight_reverse, initial_up=False))
                procs[ref.name] = name
        except ValueError as exc:
            if isinstance(exc, SettingsError):
                raise
            raise SettingsError(f"{inst.location}: {where}: {exc}") from None
        return tuple(trackers.values()), ifaces, scripts, files, procs

    # -------------------------------------------------------------- addresses
    def vip(
        self, v: model.VirtualAddress, default_dev: str, where: str, *, excluded: bool, parent: str | None = None
    ) -> VirtualAddress:
        """One VIP; with a VMAC, addresses on the parent interface move to the VMAC, as keepalived does."""
        dev = v.dev or default_dev
        if parent is not None and dev == parent:
            dev = default_dev
        kind = "virtual_ipaddress_excluded" if excluded else "virtual_ipaddress"
        broadcast = v.broadcast
        if broadcast is not None and not isinstance(broadcast, ipaddress.IPv4Address):
            raise SettingsError(f"{v.location}: {where}: {kind} {v.address}: broadcast {broadcast} is not IPv4")
        try:
            return VirtualAddress(
                address=v.interface, dev=dev, scope=parse_scope(v.scope) if v.scope else 0, label=v.label,
                broadcast=broadcast, nodad=v.nodad,
            )
        except ValueError as exc:
            raise SettingsError(f"{v.location}: {where}: {kind} {v.address}: {exc}") from None

    def route(self, r: model.Route, default_dev: str, where: str) -> VirtualRoute:
        """What the daemon installs for a typed route; options it cannot honour are refused, not dropped."""
        try:
            if r.options:
                raise ValueError(f"unsupported route option(s) {' '.join(r.options)}")
            if r.type not in ROUTE_TYPES:
                raise ValueError(f"unsupported route type {r.type}")
            return VirtualRoute(
                dst=r.dst, via=r.via,
                dev=r.dev or (default_dev if r.via is None and r.type == "unicast" else None),
                src=r.src, table=_table(RT_TABLE_MAIN if r.table is None else r.table), metric=r.metric,
                scope=parse_scope(r.scope) if r.scope is not None else None, type=r.type,
            )
        except ValueError as exc:
            raise SettingsError(f"{r.location}: {where}: virtual_routes {' '.join(r.words)}: {exc}") from None

    def rule(self, r: model.Rule, where: str) -> VirtualRule:
        """What the daemon installs for a typed rule; options it cannot honour are refused, not dropped."""
        try:
            if r.options:
                raise ValueError(f"unsupported rule option(s) {' '.join(r.options)}")
            if r.table is None:
                raise ValueError("a rule needs a table")
            return VirtualRule(
                table=_table(r.table, lowest=1), family=socket.AF_INET if r.family == 4 else socket.AF_INET6,
                src=r.src, dst=r.dst, priority=r.priority, iif=r.iif, oif=r.oif, fwmark=r.fwmark,
            )
        except ValueError as exc:
            raise SettingsError(f"{r.location}: {where}: virtual_rules {' '.join(r.words)}: {exc}") from None

    # -------------------------------------------------------------- instances
    def instance(self, inst: model.VrrpInstance) -> InstanceSettings:
        where = f"vrrp_instance {inst.name}"
        loc = f"{inst.location}"
        if not inst.interface:
            raise SettingsError(f"{loc}: {where}: no interface given")
        if inst.virtual_router_id is None:
            raise SettingsError(f"{loc}: {where}: no virtual_router_id given")
        if not inst.virtual_ipaddress:
            raise SettingsError(f"{loc}: {where}: no virtual_ipaddress given")
        af = socket.AF_INET if inst.family == 4 else socket.AF_INET6
        vmac: VmacSpec | None = None
        iface = inst.interface
        if inst.use_vmac is not None:
            vmac = VmacSpec(parent=inst.interface, vrid=inst.virtual_router_id, family=af,
                            name=inst.use_vmac or None)
            iface = vmac.ifname
        parent = inst.interface if vmac is not None else None
        vips = tuple(self.vip(v, iface, where, excluded=False, parent=parent) for v in inst.virtual_ipaddress)
        excluded = tuple(
            self.vip(v, iface, where, excluded=True, parent=parent) for v in inst.virtual_ipaddress_excluded
        )
        routes = tuple(self.route(r, inst.interface, where) for r in inst.virtual_routes)
        rules = tuple(self.rule(r, where) for r in inst.virtual_rules)
        fams = {v.address.version for v in vips}
        if len(fams) != 1:
            raise SettingsError(f"{loc}: {where}: virtual_ipaddress mixes IPv4 and IPv6 "
                                "(use virtual_ipaddress_excluded for the other family)")
        try:
            src_word = inst.unicast_src_ip or inst.mcast_src_ip
            src = ipaddress.ip_address(src_word) if src_word else None
            peers = tuple(ipaddress.ip_address(p.address) for p in inst.unicast_peer)
            group_word = inst.mcast_dst_ip or (
                self.cfg.global_defs.vrrp_mcast_group4 if inst.family == 4 else self.cfg.global_defs.vrrp_mcast_group6
            )
            group = ipaddress.ip_address(group_word)
        except ValueError as exc:
            raise SettingsError(f"{loc}: {where}: {exc}") from None
        auth_type = {None: AUTH_NONE, "PASS": AUTH_PASS, "AH": AUTH_AH}.get(
            inst.auth_type.upper() if inst.auth_type else None
        )
        if auth_type is None:
            raise SettingsError(f"{loc}: {where}: auth_type must be PASS or AH, not {inst.auth_type}")
        if auth_type == AUTH_AH:
            raise SettingsError(f"{loc}: {where}: auth_type AH is not supported (use PASS or none)")
        trackers, ifaces, scripts, files, procs = self.trackers(inst, where)
        v3_as_v2 = _extra_has(inst.extra, "v3_checksum_as_v2") or _extra_has(
            self.cfg.global_defs.extra, "v3_checksum_as_v2"
        )
        old_words = _extra_value(inst.extra, "old_unicast_checksum")
        old_checksum = "auto"
        if old_words is not None:
            if old_words not in ((), ("never",)):
                raise SettingsError(f"{loc}: {where}: old_unicast_checksum takes no value or 'never', not "
                                    f"{' '.join(old_words)!r}")
            old_checksum = "never" if old_words else "always"
        advert_cs = round(inst.advert_int * 100)
        if inst.version == 2:
            advert_cs = max(100, round(inst.advert_int) * 100)  # keepalived rounds v2 intervals to seconds
        g = self.cfg.global_defs
        interval = g.vrrp_garp_interval if inst.family == 4 else g.vrrp_gna_interval
        try:
            garp = AnnouncementSchedule(
                repeat=max(1, inst.garp_master_repeat), delay=inst.garp_master_delay, interval=interval,
                refresh=inst.garp_master_refresh, refresh_repeat=max(1, inst.garp_master_refresh_repeat),
            )
        except ValueError as exc:
            raise SettingsError(f"{loc}: {where}: {exc}") from None
        settings = InstanceSettings(
            name=inst.name,
            where=loc,
            interface=iface,
            parent_interface=inst.interface,
            family=inst.family,
            vrid=inst.virtual_router_id,
            priority=inst.priority,
            version=inst.version,
            advert_int_cs=advert_cs,
            initial_state=inst.state,
            preempt=not inst.nopreempt,
            preempt_delay_us=round(inst.preempt_delay * 1_000_000),
            accept=inst.accept,
            lower_prio_no_advert=inst.lower_prio_no_advert,
            higher_prio_send_advert=inst.higher_prio_send_advert,
            garp_lower_prio_repeat=inst.garp_lower_prio_repeat,
            garp_lower_prio_delay=inst.garp_lower_prio_delay,
            down_timer_adverts=inst.down_timer_adverts,
            auth_type=auth_type,
            auth_pass=(inst.auth_pass or "").encode()[:8],
            v3_checksum_as_v2=v3_as_v2,
            strict_mode=inst.strict_mode,
            vips=vips,
            excluded_vips=excluded,
            routes=routes,
            rules=rules,
            src_ip=src,
            unicast_peers=peers,
            unicast_ttl=inst.unicast_ttl if peers else 255,  # keepalived: unicast_ttl needs unicast peers
            mcast_group=group,
            vmac=vmac,
            trackers=trackers,
            tracked_interfaces=ifaces,
            tracked_scripts=scripts,
            tracked_files=files,
            tracked_processes=procs,
            notify=self.notify(inst.notify, f"{loc}: {where}"),
            notify_priority_changes=inst.notify_priority_changes,
            garp=garp,
            garp_repeat=max(0, inst.garp_master_repeat),
            old_unicast_checksum=old_checksum,
        )
        # validate the router settings now (with a placeholder source of the right family)
        settings.router_config(src or (ipaddress.IPv4Address("0.0.0.1") if inst.family == 4
                                       else ipaddress.IPv6Address("fe80::1")))
        return settings

    def build(self) -> DaemonSettings:
        instances = tuple(self.instance(i) for i in self.cfg.vrrp_instances)
        names = [i.name for i in instances]
        seen: set[tuple[str, int, int, bool]] = set()
        for i in instances:
            key = (i.interface, i.family, i.vrid, i.unicast)
            if key in seen and not i.unicast:
                raise SettingsError(f"{i.where}: vrrp_instance {i.name}: VRID {i.vrid} is already used on "
                                    f"{i.interface} for IPv{i.family}")
            seen.add(key)
        groups = []
        for sg in self.cfg.sync_groups:
            missing = [m for m in sg.group if m not in names]
            if missing:
                raise SettingsError(f"{sg.location}: vrrp_sync_group {sg.name}: no vrrp_instance "
                                    f"{', '.join(missing)}")
            groups.append(SyncGroupSettings(sg.name, str(sg.location), tuple(sg.group),
                                            self.notify(sg.notify, f"{sg.location}: vrrp_sync_group {sg.name}")))
        fifos: list[tuple[str, Script | None]] = []
        g = self.cfg.global_defs
        for kw in ("notify_fifo", "vrrp_notify_fifo"):
            value = _extra_value(g.extra, kw)
            if value:
                script_words = _extra_value(g.extra, f"{kw}_script")
                script = Script(tuple(script_words), self.default_user()) if script_words else None
                fifos.append((value[0], script))
        try:
            process = parse_process_settings(g.extra)
        except ProcessSettingsError as exc:
            raise SettingsError(str(exc)) from None
        return DaemonSettings(
            process=process,
            instances=instances,
            sync_groups=tuple(groups),
            scripts=self.script_settings(),
            files=self.file_settings(),
            processes=self.process_settings(),
            script_security=self.script_security,
            notify_fifos=tuple(fifos),
            router_id=g.router_id,
            static_addresses=tuple(self.vip(v, g.default_interface, "static_ipaddress", excluded=False)
                                   for v in self.cfg.static_ipaddress),
            static_routes=tuple(self.route(r, g.default_interface, "static_routes") for r in self.cfg.static_routes),
            static_rules=tuple(self.rule(r, "static_rules") for r in self.cfg.static_rules),
        )


def build_settings(cfg: KeepalivedConfig) -> DaemonSettings:
    """Resolve ``cfg`` for the VRRP process; :class:`SettingsError` names the file and line of a problem."""
    return _Builder(cfg).build()
