"""Model building: parsed block dicts -> frozen dataclasses, with keepalived's defaulting,
inheritance and the cross-block checks keepalived's ``-t`` makes (``*_validate_config``).

Host-dependent checks (do interfaces exist, are scripts executable, does the keepalived_script user
exist) go through :class:`HostView`, so tests can give a fixed host and the CLI the real one.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any, TypeVar

from vrrp.core.config import first_vip_not_link_local

from .errors import Diagnostics, Location, Severity
from .model import (
    BfdInstance,
    Checker,
    GarpGroup,
    GlobalDefs,
    KeepalivedConfig,
    LinkbeatInterface,
    Notify,
    RealServer,
    Script,
    SslSettings,
    TrackFile,
    TrackGroup,
    TrackProcess,
    VirtualServer,
    VirtualServerGroup,
    VrrpInstance,
    VrrpScript,
    VrrpSyncGroup,
)
from .routes import RawEntry, parse_route, parse_rule, route_interfaces

Ctx = dict[str, Any]
_T = TypeVar("_T")


def _host_interfaces() -> frozenset[str] | None:
    try:
        return frozenset(name for _, name in socket.if_nameindex())
    except OSError:
        return None


def _find_executable(cmd: str) -> str | None:
    if "/" in cmd:
        return cmd if os.path.isfile(cmd) and os.access(cmd, os.X_OK) else None
    import shutil  # only when a script is checked: keeps `-t` start-up lean

    return shutil.which(cmd)


def _user_exists(name: str) -> bool:
    from vrrp.io.scripts import user_exists  # only when a script is checked: keeps `-t` start-up lean

    return user_exists(name)


def _script_refusal(argv: Sequence[str], user: str | None, script_security: bool) -> str | None:
    """The daemon's check (``vrrp.io.scripts.script_refusal``) for a script ``-t`` found, run on this host.

    A user that cannot be resolved is reported by its own check; a path that vanished is not ours to judge.
    """
    from vrrp.io.scripts import ScriptError, resolve_user, script_refusal  # only when a script is checked

    try:
        resolved = resolve_user(user) if user is not None else None
    except (ScriptError, ValueError):  # ValueError: a NUL byte in the name
        return None
    if "/" in argv[0] and not os.path.exists(argv[0]):
        return None
    return script_refusal(argv, resolved, script_security=script_security)


@dataclass
class HostView:
    """What the config is checked against. ``interfaces=None`` disables interface checks."""

    interfaces: frozenset[str] | None = field(default_factory=_host_interfaces)
    find_executable: Callable[[str], str | None] = _find_executable
    user_exists: Callable[[str], bool] = _user_exists
    #: why a found script is refused (its argv, its user's name or None), or None: the daemon's own check
    script_refusal: Callable[[Sequence[str], str | None, bool], str | None] = _script_refusal


def _extra(c: Ctx) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(c.get("extra", ()))


def _pick(c: Ctx, fields: frozenset[str]) -> dict[str, Any]:
    """The model fields present in a parsed block (blocks set few keys, so walk the block, not the fields)."""
    return {k: v for k, v in c.items() if k in fields}


_GLOBAL_FIELDS = frozenset(tuple(f for f in GlobalDefs.__dataclass_fields__ if f != "extra"))
_SCRIPT_FIELDS = frozenset(("interval", "timeout", "weight", "weight_reverse", "rise", "fall", "init_fail"))
_TP_FIELDS = frozenset(tuple(f for f in TrackProcess.__dataclass_fields__ if f not in ("name", "location", "extra")))
_TF_FIELDS = frozenset(tuple(f for f in TrackFile.__dataclass_fields__ if f not in ("name", "location")))
_SG_FIELDS = frozenset(("track_interface", "track_script", "track_file", "track_process", "notify_priority_changes",
              "smtp_alert", "sync_group_tracking_weight"))
_INST_FIELDS = frozenset(tuple(f for f in VrrpInstance.__dataclass_fields__
                     if f not in ("name", "location", "extra", "notify", "version", "family", "accept")))
_VS_FIELDS = frozenset(("address", "port", "fwmark", "group", "family", "protocol", "lvs_sched", "lvs_method",
              "tunnel_type", "persistence_timeout", "persistence_granularity", "persistence_engine", "ha_suspend",
              "alpha", "omega", "quorum", "hysteresis", "quorum_up", "quorum_down", "sorry_server",
              "sorry_server_inhibit", "delay_loop", "inhibit_on_failure", "virtualhost", "smtp_alert"))
_RS_FIELDS = frozenset(("weight", "notify_up", "notify_down", "uthreshold", "lthreshold", "smtp_alert", "virtualhost"))
_CK_FIELDS = frozenset(("connect_ip", "connect_port", "bindto", "bind_if", "bind_port", "fwmark", "log_all_failures",
              "http_protocol", "virtualhost", "fast_recovery", "enable_sni", "helo_name", "dns_type", "dns_name",
              "misc_path", "misc_timeout", "misc_dynamic", "payload", "require_reply", "min_reply_length",
              "max_reply_length", "track_file", "weight", "weight_reverse", "dynamic", "name"))
def _ignored_because(inst: VrrpInstance) -> str | None:
    """Why keepalived drops this instance at start-up (it reports it and runs the others), or None."""
    if inst.interface == "lo":
        return "cannot use a loopback interface (lo) for vrrp"
    return None


def _without_ignored(cfg: KeepalivedConfig) -> KeepalivedConfig:
    """The model holds only instances that run: an ignored one is left out (after the checks reported it), as
    keepalived frees it, so the daemon, the dumps and the sync groups never see it."""
    gone = {i.name for i in cfg.vrrp_instances if _ignored_because(i) is not None}
    if not gone:
        return cfg
    return dataclasses.replace(
        cfg,
        vrrp_instances=tuple(i for i in cfg.vrrp_instances if i.name not in gone),
        sync_groups=tuple(dataclasses.replace(g, group=tuple(m for m in g.group if m not in gone))
                          for g in cfg.sync_groups),
    )


def _defaults(cls: type) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
    return out


_CHECKER_DEFAULTS = _defaults(Checker)
_RS_DEFAULTS = _defaults(RealServer)


def fast_new(cls: type[_T], defaults: dict[str, Any], kw: dict[str, Any]) -> _T:
    """Build a frozen (non-slots) dataclass by filling its ``__dict__`` in one call.

    Equivalent to ``cls(**kw)`` for the field values (every field gets its default or the value in
    ``kw``; callers pass all fields without defaults) but ~6x faster than the generated frozen
    ``__init__``, which sets each of Checker's 45 fields with ``object.__setattr__``.
    """
    obj = object.__new__(cls)
    d = obj.__dict__
    d.update(defaults)
    d.update(kw)
    return obj


_new = object.__new__
# Keys of a parsed block copied as they are onto the model object by the fast paths.
_RS_OWN = _RS_FIELDS | {"address", "port", "location", "lvs_method", "delay_loop"}
_CK_OWN = _CK_FIELDS | {"location", "delay_loop", "connect_timeout", "retry", "delay_before_retry", "warmup",
                        "alpha"}
# Checker kinds whose blocks need more than plain fields (see Builder._checker_special).
_CK_SPECIAL = frozenset({"HTTP_GET", "SSL_GET", "DNS_CHECK", "MISC_CHECK", "FILE_CHECK"})


def _rs_base(vs: Ctx, vs_inherited: Ctx, method: str, delay_loop: float) -> dict[str, Any]:
    """RealServer defaults with what a virtual server passes down to its real servers."""
    base = dict(_RS_DEFAULTS)
    base["lvs_method"] = method
    base["inhibit_on_failure"] = bool(vs.get("inhibit_on_failure"))
    base["alpha"] = bool(vs_inherited.get("alpha"))
    base["delay_loop"] = delay_loop
    return base


def _checker_base(kind: str, inherited: Ctx) -> dict[str, Any]:
    """Checker defaults for ``kind`` with the timing inherited from the real/virtual server applied."""
    base = dict(_CHECKER_DEFAULTS)
    base["kind"] = kind
    base["connect_timeout"] = inherited.get("connect_timeout", 5.0)
    base["retry"] = inherited.get("retry", _RETRY_DEFAULT.get(kind, 1))
    base["delay_before_retry"] = inherited.get("delay_before_retry", _DBR_DEFAULT.get(kind, 1.0))
    base["warmup"] = inherited.get("warmup")
    base["alpha"] = inherited.get("alpha", False)
    return base


_INHERITED = frozenset({"connect_timeout", "retry", "delay_before_retry", "warmup", "alpha"})
_RETRY_DEFAULT = {"DNS_CHECK": 3, "MISC_CHECK": 0}
_DBR_DEFAULT = {"HTTP_GET": 3.0, "SSL_GET": 3.0}
_GARP = ("garp_master_delay", "garp_master_repeat", "garp_master_refresh", "garp_master_refresh_repeat",
         "garp_lower_prio_delay", "garp_lower_prio_repeat", "down_timer_adverts", "lower_prio_no_advert",
         "higher_prio_send_advert")


def _consume(blocks: list[Any]) -> Iterator[Any]:
    """Yield each block and drop the list's reference to it.

    A virtual server's parsed dicts are garbage once its model is built; freeing them as we go lets
    the allocator reuse their memory for the next ones (lower peak memory, fewer page faults).
    """
    for k, c in enumerate(blocks):
        blocks[k] = None
        yield c


class Builder:
    """Builds the model from the parser's block dicts.

    ``fast_paths=False`` builds real servers and checkers with the plain, field-by-field code
    (:meth:`_rs` / :meth:`_checker`); the default uses :meth:`_rs_fast` / :meth:`_checker_fast`,
    which give the same objects. The plain path is the oracle the fast one is tested against.
    :meth:`build` consumes ``top``: the virtual server blocks are released as they are built.
    """

    def __init__(self, top: dict[str, list[Any]], diags: Diagnostics, host: HostView,
                 fast_paths: bool = True) -> None:
        self.top = top
        self.diags = diags
        self.host = host
        self.fast_paths = fast_paths
        self._scripts_used: list[tuple[Script, Location, str, bool]] = []
        #: each instance's routes and rules as read (by the instance's location), typed by _cross_checks
        self._raw_routes: dict[Location, tuple[tuple[RawEntry, ...], tuple[RawEntry, ...]]] = {}

    def build(self, files: tuple[str, ...]) -> KeepalivedConfig:
        g = self._global()
        scripts = tuple(self._vrrp_script(c) for c in self.top["vrrp_script"])
        tprocs = tuple(TrackProcess(c["name"], c["location"], **_pick(c, _TP_FIELDS), extra=_extra(c))
                       for c in self.top["vrrp_track_process"])
        tfiles = tuple(TrackFile(c["name"], c["location"], **_pick(c, _TF_FIELDS)) for c in self.top["track_file"])
        instances = tuple(i for i in (self._instance(c, g) for c in self.top["vrrp_instance"]) if i is not None)
        groups = tuple(self._sync_group(c) for c in self.top["vrrp_sync_group"])
        instances = self._sync_group_states(instances, groups)
        vsgs = tuple(VirtualServerGroup(c["name"], c["location"], c["entries"])
                     for c in self.top["virtual_server_group"])
        vsg_names = {x.name for x in vsgs}
        vss = tuple(v for v in (self._vs(c, vsg_names) for c in _consume(self.top["virtual_server"]))
                    if v is not None)
        cfg = KeepalivedConfig(files, g, scripts, tprocs, tfiles, groups, instances, vsgs, vss,
                               tuple(self.top["static_ipaddress"]), (), (), tuple(self.top["extra"]),
                               *self._other_blocks(g))
        cfg = self._cross_checks(cfg, tuple(self.top["static_routes"]), tuple(self.top["static_rules"]))
        return _without_ignored(cfg)

    # -- pieces -------------------------------------------------------------------------------
    def _other_blocks(self, g: GlobalDefs) -> tuple[SslSettings | None, tuple[GarpGroup, ...],
                                     tuple[LinkbeatInterface, ...],
                                     tuple[TrackGroup, ...], tuple[BfdInstance, ...]]:
        """SSL, garp_group, linkbeat_interfaces, track_group, bfd_instance, with keepalived's removals."""
        ssl = self.top["SSL"]
        ssl_settings = SslSettings(**ssl[0]) if ssl else None
        ifaces = None if g.dynamic_interfaces else self.host.interfaces  # as in _cross_checks
        garp: list[GarpGroup] = []
        grouped: set[str] = set()  # an interface belongs to one garp_group at most
        for n, c in enumerate(self.top["garp_group"]):
            names = []
            for name, loc in c.pop("interfaces", []):
                if name in grouped:
                    self.diags.error(loc, f"garp_group already specified for {name} - ignoring")
                    continue
                grouped.add(name)
                names.append(name)
                if ifaces is not None and name not in ifaces:
                    self.diags.error(loc, f"WARNING - interface {name} specified for garp_group doesn't exist")
            if "garp_interval" not in c and "gna_interval" not in c:
                self.diags.error(c["location"], f"garp group {n} does not have any delay set - removing")
                continue
            garp.append(GarpGroup(**c, interfaces=tuple(names)))
        linkbeat = tuple(self.top["linkbeat_interfaces"])
        if ifaces is not None:
            for lb in linkbeat:
                if lb.name not in ifaces:  # keepalived 2.2.7 -t exits 4 on this one
                    self.diags.fatal(lb.location, f"unknown interface {lb.name} specified for linkbeat interface")
        tgroups: dict[str, TrackGroup] = {}
        for c in self.top["track_group"]:
            if c["name"] in tgroups:
                self.diags.error(c["location"], f"track_group {c['name']} already defined")
                continue
            tgroups[c["name"]] = TrackGroup(c["name"], c["location"], tuple(c.get("group", ())))
        return ssl_settings, tuple(garp), linkbeat, tuple(tgroups.values()), self._bfd_instances()

    def _bfd_instances(self) -> tuple[BfdInstance, ...]:
        """keepalived's bfd_parser checks, each of which drops the instance (reported, exit 5)."""
        bfds: dict[str, BfdInstance] = {}
        for c in self.top["bfd_instance"]:
            name, loc = c["name"], c["location"]
            why = None
            nbr, src = c.get("neighbor_ip"), c.get("source_ip")
            if len(name) > 31:
                why = "name too long (maximum length is 31 characters) - ignoring"
            elif name in bfds:
                why = "already configured - ignoring"
            elif nbr is None:
                why = "has no neighbor address set, disabling instance"
            elif src is not None and (":" in src) != (":" in nbr):
                why = f"source address {src} and neighbor address {nbr} are not of the same family, disabling instance"
            elif any(b.neighbor_ip == nbr and (src is None or b.source_ip is None or b.source_ip == src)
                     for b in bfds.values()):
                why = f"has duplicate source/neighbor address {src or ''}/{nbr}, ignoring instance"
            if why is not None:
                self.diags.error(loc, f"BFD instance {name} {why}")
                continue
            ttl = c.get("ttl", 255)
            max_hops = c.get("max_hops", 0)
            if (255 if max_hops == -1 else max_hops) > ttl:  # -1 is "any number of hops", i.e. up to 255
                self.diags.error(loc, f"BFD instance {name}: max_hops exceeds ttl/hoplimit - setting to ttl/hoplimit")
                c["max_hops"] = ttl
            bfds[name] = BfdInstance(**c)
        return tuple(bfds.values())

    def _global(self) -> GlobalDefs:
        c = self.top["global_defs"][0] if self.top["global_defs"] else {}
        kw = _pick(c, _GLOBAL_FIELDS)
        if "notification_email" in kw:
            kw["notification_email"] = tuple(kw["notification_email"])
        kw.setdefault("vrrp_garp_lower_prio_delay", kw.get("vrrp_garp_master_delay", 5.0))
        kw.setdefault("vrrp_garp_lower_prio_repeat", kw.get("vrrp_garp_master_repeat", 5))
        return GlobalDefs(**kw, extra=_extra(c))

    def _vrrp_script(self, c: Ctx) -> VrrpScript:
        kw = _pick(c, _SCRIPT_FIELDS)
        kw.setdefault("timeout", kw.get("interval", 1.0))
        script: Script | None = c.get("script")
        if script is not None and "_user" in c:
            script = Script(script.command, script.argv, c["_user"][0], c["_user"][1])
        if script is None:
            self.diags.error(c["location"], f"No script set for vrrp_script {c['name']} - removing")
        return VrrpScript(c["name"], c["location"], script, **kw)

    def _notify(self, c: Ctx) -> Notify:
        n = c.get("notify")
        if not n:
            return Notify()
        locs = c.get("_script_locs", {})
        for key, s in n.items():
            loc = next((v for k, v in locs.items() if k.endswith(key)), c["location"])
            self._scripts_used.append((s, loc, f"notify_{key}", False))
        return Notify(**n)

    def _sync_group(self, c: Ctx) -> VrrpSyncGroup:
        kw = _pick(c, _SG_FIELDS)
        for k in ("track_interface", "track_script", "track_file", "track_process"):
            if k in kw:
                kw[k] = tuple(kw[k])
        return VrrpSyncGroup(c["name"], c["location"], tuple(c.get("group", ())), notify=self._notify(c),
                             extra=_extra(c), **kw)

    def _instance(self, c: Ctx, g: GlobalDefs) -> VrrpInstance | None:
        d = self.diags
        name: str = c["name"]
        loc: Location = c["location"]
        kw = _pick(c, _INST_FIELDS)
        self._raw_routes[loc] = (tuple(kw.pop("virtual_routes", ())), tuple(kw.pop("virtual_rules", ())))
        for k in ("virtual_ipaddress", "virtual_ipaddress_excluded",
                  "unicast_peer", "track_interface", "track_script", "track_file", "track_process"):
            if k in kw:
                kw[k] = tuple(kw[k])
        if not kw.get("virtual_ipaddress") and not kw.get("virtual_ipaddress_excluded"):
            d.error(loc, f"({name}) No VIP specified; at least one is sensible")
        if "virtual_router_id" not in kw:
            d.error(loc, f"({name}) the virtual router id must be set")
        vips = kw.get("virtual_ipaddress", ())
        family = vips[0].family if vips else 4
        if vips and any(v.family != family for v in vips):
            d.error(loc, f"({name}) virtual_ipaddress mixes IPv4 and IPv6 - use virtual_ipaddress_excluded")
        version = 3 if family == 6 else c.get("version", g.vrrp_version)
        advert = kw.get("advert_int", 1.0)
        if version == 2 and advert != int(advert):
            d.error(c.get("_advert_loc", loc),
                    f"({name}) VRRPv2 advertisement interval {advert:f}s must be an integer. rounding")
            kw["advert_int"] = float(max(1, round(advert)))
        if version == 3 and advert > 40.95:
            d.error(c.get("_advert_loc", loc), f"({name}) VRRPv3 advertisement interval {advert}s too big, "
                    "expected at most 40.95 - using 40.95")
            kw["advert_int"] = 40.95
        strict = kw.get("strict_mode", g.vrrp_strict)
        kw["strict_mode"] = strict
        if vips and first_vip_not_link_local([ip_address(vips[0].address)], unicast=bool(kw.get("unicast_peer"))):
            # keepalived 2.2.7 (vrrp.c): a config error in strict mode, an informational message otherwise
            if strict:
                d.error(vips[0].location, f"({name}) the first IPv6 VIP address must be link local")
            else:
                d.notice(vips[0].location, f"({name}) the first IPv6 VIP address should be link local")
        kw.setdefault("skip_check_adv_addr", g.vrrp_skip_check_adv_addr)
        accept = c.get("accept", not strict)
        if "priority" not in kw:
            # keepalived: an instance configured MASTER without a priority is the address owner (255)
            kw["priority"] = 255 if kw.get("state") == "MASTER" else 100
        if kw.get("auth_type") == "AH" and kw.get("state") == "MASTER" and kw["priority"] != 255:
            d.error(loc, f"({name}) Initial state master is incompatible with AH authentication - clearing")
            kw["state"] = "BACKUP"
        if kw.get("auth_type") and version == 3:
            d.error(loc, f"({name}) authentication is not supported with VRRPv3 - removing")
            kw.pop("auth_type")
            kw.pop("auth_pass", None)
        if kw.get("preempt_delay") and kw.get("state") == "MASTER":
            d.error(loc, f"({name}) preempt_delay requires state BACKUP - ignoring")
            kw.pop("preempt_delay")
        if "unicast_ttl" in kw and not kw.get("unicast_peer"):
            d.error(loc, f"({name}): Cannot use unicast_ttl without unicast peers - resetting")
            kw.pop("unicast_ttl")
        if strict:
            self._strict_garp(kw, name, loc)
        for k in _GARP:
            kw.setdefault(k, getattr(g, "vrrp_" + k))
        if "interface" not in kw and not kw.get("unicast_peer"):
            kw["interface"] = g.default_interface
        return VrrpInstance(name, loc, version=version, family=family, accept=accept,
                            notify=self._notify(c), extra=_extra(c), **kw)

    def _strict_garp(self, kw: Ctx, name: str, loc: Location) -> None:
        """keepalived's strict mode: no GARPs or advert on a lower-priority advert, no last advert before
        yielding; an explicit setting that contradicts it is reset with keepalived's message."""
        forced: tuple[tuple[str, object, str], ...] = (
            ("garp_lower_prio_repeat", 0, "Strict mode requires no repeat garps. resetting"),
            ("garp_lower_prio_delay", 0.0, "Strict mode requires no repeat garp delay. resetting"),
            ("lower_prio_no_advert", True, "Strict mode requires no lower priority advert. resetting"),
            ("higher_prio_send_advert", False, "strict mode requires higher_prio_send_advert to be clear. resetting"),
        )
        for key, value, message in forced:
            if key in kw and kw[key] != value:
                self.diags.error(loc, f"({name}) {message}")
            kw[key] = value

    def _sync_group_states(self, instances: tuple[VrrpInstance, ...],
                           groups: tuple[VrrpSyncGroup, ...]) -> tuple[VrrpInstance, ...]:
        """keepalived starts a sync group's members in BACKUP unless every member is an address owner (255)."""
        by_name = {i.name: i for i in instances}
        demote: set[str] = set()
        for g in groups:
            members = [by_name[n] for n in g.group if n in by_name]
            if any(m.priority != 255 for m in members):
                demote.update(m.name for m in members if m.state == "MASTER")
        if not demote:
            return instances
        return tuple(dataclasses.replace(i, state="BACKUP") if i.name in demote else i for i in instances)

    def _vs(self, c: Ctx, vsg_names: set[str]) -> VirtualServer | None:
        d = self.diags
        loc: Location = c["location"]
        kw = _pick(c, _VS_FIELDS)
        vsname = (f"FWM {kw['fwmark']}" if "fwmark" in kw else f"[{kw['group']}]" if "group" in kw
                  else f"[{kw.get('address')}]:{kw.get('port', 0)}")
        if "group" in kw and kw["group"] not in vsg_names:
            d.error(loc, f"Virtual server group {kw['group']} not found - skipping virtual server")
            return None
        if "fwmark" in kw and "protocol" in kw:
            d.error(c.get("_proto_loc", loc), f"Warning: Virtual server {vsname}: protocol specified for fwmark "
                    "- protocol will be ignored")
        if "protocol" not in kw and "fwmark" not in kw:
            d.error(loc, f"Virtual server {vsname}: no protocol set - defaulting to UDP")
            kw["protocol"] = "UDP"
        if "lvs_sched" not in kw:
            d.error(loc, f"Virtual server {vsname}: no scheduler set, setting default 'wlc'")
        if "lvs_method" not in kw:
            d.error(loc, f"Virtual server {vsname}: no forwarding method set, setting default NAT")
        if "address" in kw and kw.get("port", 0) == 0 and "persistence_timeout" not in kw:
            d.error(loc, f"Virtual server {vsname}: zero port only valid for persistent services - setting")
            kw["persistence_timeout"] = 360
        if "ops" in c.get("sched_flags", ()) and kw.get("protocol") != "UDP":
            d.error(loc, f"Virtual server {vsname}: one packet scheduling requires UDP - resetting")
            c["sched_flags"] = [f for f in c["sched_flags"] if f != "ops"]
        for s in ("quorum_up", "quorum_down"):
            if s in kw:
                self._scripts_used.append((kw[s], c.get("_script_locs", {}).get(s, loc), s, False))
        method = kw.get("lvs_method", "NAT")
        delay_loop = kw.get("delay_loop", 60.0)
        vs_inherited = {k: v for k, v in c.items() if k in _INHERITED}
        if self.fast_paths:
            rs_base = _rs_base(c, vs_inherited, method, delay_loop)
            ck_bases: dict[str, dict[str, Any]] = {}
            rss = tuple([self._rs_fast(r, rs_base, vs_inherited, ck_bases) for r in c.get("_real_servers", ())])
        else:
            rss = tuple([self._rs(r, c, vs_inherited, method, delay_loop) for r in c.get("_real_servers", ())])
        return VirtualServer(loc, sched_flags=tuple(c.get("sched_flags", ())), real_servers=rss,
                             extra=_extra(c), **kw)

    def _rs(self, r: Ctx, vs: Ctx, vs_inherited: Ctx, method: str, vs_delay: float) -> RealServer:
        kw = _pick(r, _RS_FIELDS)
        if "_script_locs" in r:
            locs = r["_script_locs"]
            for s in ("notify_up", "notify_down"):
                if s in kw:
                    self._scripts_used.append((kw[s], locs.get(s, r["location"]), s, False))
        delay_loop = r.get("delay_loop", vs_delay)
        cks = r.get("_checkers")
        if cks:
            # What checkers inherit (checker -> real server -> virtual server), merged once per real server.
            own = {k: v for k, v in r.items() if k in _INHERITED}
            inherited = {**vs_inherited, **own} if own else vs_inherited
            checkers = tuple([self._checker(ck, inherited, delay_loop) for ck in cks])
        else:
            checkers = ()
        kw["address"] = r["address"]
        kw["port"] = r["port"]
        kw["location"] = r["location"]
        kw["lvs_method"] = r.get("lvs_method", method)
        kw["inhibit_on_failure"] = bool(r.get("inhibit_on_failure", vs.get("inhibit_on_failure")))
        kw["alpha"] = bool(r.get("alpha", vs_inherited.get("alpha")))
        kw["delay_loop"] = delay_loop
        kw["checkers"] = checkers
        if "extra" in r:
            kw["extra"] = _extra(r)
        return fast_new(RealServer, _RS_DEFAULTS, kw)

    def _check_checker(self, kind: str, ck: Ctx, out: dict[str, Any]) -> None:
        """keepalived's per-kind checker checks, shared by both builders; may set ``out["misc_path"]``."""
        if kind in ("HTTP_GET", "SSL_GET") and not ck.get("urls"):
            self.diags.error(ck["location"], f"{kind}: no url configured - the checker will fail")
        if kind == "MISC_CHECK":
            script = ck.get("misc_path")
            if script is None:
                self.diags.error(ck["location"], "MISC_CHECK: misc_path missing - removing checker")
            else:
                if "_user" in ck:
                    script = Script(script.command, script.argv, ck["_user"][0], ck["_user"][1])
                    out["misc_path"] = script
                self._scripts_used.append((script, ck.get("_script_locs", {}).get("misc_path", ck["location"]),
                                           "misc_path", False))
        if kind == "FILE_CHECK" and "track_file" not in ck:
            self.diags.error(ck["location"], "FILE_CHECK: track_file missing - removing checker")

    def _checker(self, ck: Ctx, inherited: Ctx, rs_delay: float) -> Checker:
        """One checker; ``inherited`` holds the timing keys set on its virtual server / real server."""
        kind = ck["kind"]
        kw = _pick(ck, _CK_FIELDS)
        delay_loop = ck.get("delay_loop", rs_delay)
        kw["delay_loop"] = delay_loop
        get = ck.get
        kw["connect_timeout"] = get("connect_timeout", inherited.get("connect_timeout", 5.0))
        kw["retry"] = get("retry", inherited.get("retry", _RETRY_DEFAULT.get(kind, 1)))
        kw["delay_before_retry"] = get("delay_before_retry", inherited.get(
            "delay_before_retry", delay_loop if kind == "DNS_CHECK" else _DBR_DEFAULT.get(kind, 1.0)))
        kw["warmup"] = get("warmup", inherited.get("warmup"))
        kw["alpha"] = get("alpha", inherited.get("alpha", False))
        if "urls" in ck:
            kw["urls"] = tuple(ck["urls"])
        self._check_checker(kind, ck, kw)
        kw["kind"] = kind
        kw["location"] = ck["location"]
        if "extra" in ck:
            kw["extra"] = _extra(ck)
        return fast_new(Checker, _CHECKER_DEFAULTS, kw)

    # -- fast paths for real servers and checkers ----------------------------------------------
    # A big config is almost all real servers with one checker each, so these two run ~37k times at
    # the benchmark scale. Instead of computing every inherited value with chained ``dict.get`` calls
    # and then copying the 45 checker defaults, they start from a dict prepared once per virtual
    # server (defaults with that virtual server's inherited values already applied) and overlay the
    # few keys the block set. Same objects as _rs/_checker (tests/unit/test_config_perf.py).
    def _rs_fast(self, r: Ctx, rs_base: dict[str, Any], vs_inherited: Ctx,
                 ck_bases: dict[str, dict[str, Any]]) -> RealServer:
        if "_script_locs" in r:
            locs = r["_script_locs"]
            for s in ("notify_up", "notify_down"):
                if s in r:
                    self._scripts_used.append((r[s], locs.get(s, r["location"]), s, False))
        obj = _new(RealServer)
        d = obj.__dict__
        d.update(rs_base)
        d.update({k: v for k, v in r.items() if k in _RS_OWN})
        if "inhibit_on_failure" in r:
            d["inhibit_on_failure"] = bool(r["inhibit_on_failure"])
        if "alpha" in r:
            d["alpha"] = bool(r["alpha"])
        if "extra" in r:
            d["extra"] = _extra(r)
        cks = r.get("_checkers")
        if cks:
            delay_loop = d["delay_loop"]
            if _INHERITED.isdisjoint(r):  # the usual case: the real server sets no checker timing
                inherited, bases = vs_inherited, ck_bases
            else:
                inherited = {**vs_inherited, **{k: v for k, v in r.items() if k in _INHERITED}}
                bases = {}
            out = []
            for ck in cks:
                kind = ck["kind"]
                base = bases.get(kind)
                if base is None:
                    base = bases[kind] = _checker_base(kind, inherited)
                out.append(self._checker_fast(ck, base, inherited, delay_loop))
            d["checkers"] = tuple(out)
        return obj

    def _checker_fast(self, ck: Ctx, base: dict[str, Any], inherited: Ctx, rs_delay: float) -> Checker:
        obj = _new(Checker)
        d = obj.__dict__
        d.update(base)
        d["delay_loop"] = rs_delay
        d.update({k: v for k, v in ck.items() if k in _CK_OWN})
        if base["kind"] in _CK_SPECIAL or "extra" in ck or "urls" in ck:
            self._checker_special(ck, d, inherited)
        return obj

    def _checker_special(self, ck: Ctx, d: dict[str, Any], inherited: Ctx) -> None:
        """What _checker does beyond plain fields: urls, extra, per-kind checks, DNS's retry delay."""
        kind = d["kind"]
        if "urls" in ck:
            d["urls"] = tuple(ck["urls"])
        if kind == "DNS_CHECK" and "delay_before_retry" not in ck and "delay_before_retry" not in inherited:
            d["delay_before_retry"] = d["delay_loop"]
        self._check_checker(kind, ck, d)
        if "extra" in ck:
            d["extra"] = _extra(ck)

    # -- cross-block checks (keepalived's validate_config) ---------------------------------------
    def _cross_checks(self, cfg: KeepalivedConfig, static_routes: tuple[RawEntry, ...],
                      static_rules: tuple[RawEntry, ...]) -> KeepalivedConfig:
        """keepalived's checks across blocks; returns ``cfg`` with its routes and rules typed (config.routes)."""
        d = self.diags
        g = cfg.global_defs
        scripts = {s.name: s for s in cfg.vrrp_scripts if s.script is not None}
        files = {f.name for f in cfg.track_files}
        procs = {p.name for p in cfg.track_processes}
        names = {i.name for i in cfg.vrrp_instances}
        ifaces = None if g.dynamic_interfaces else self.host.interfaces
        used_scripts: set[str] = set()

        def check_refs(owner: str, refs: tuple[Any, ...], known: set[str] | dict[str, Any], what: str) -> None:
            for ref in refs:
                if ref.name not in known:
                    d.error(ref.location, f"({owner}) {what} {ref.name} not found, ignoring...")
                elif what == "track script":
                    used_scripts.add(ref.name)

        seen_vrid: dict[tuple[str | None, int, int], str] = {}
        for inst in cfg.vrrp_instances:
            check_refs(inst.name, inst.track_script, scripts, "track script")
            check_refs(inst.name, inst.track_file, files, "track file")
            check_refs(inst.name, inst.track_process, procs, "track process")
            why = _ignored_because(inst)
            if why is not None:
                d.error(inst.location, f"({inst.name}) {why} - ignoring")
            if ifaces is not None:
                if inst.interface is not None and inst.interface not in ifaces:
                    d.error(inst.location, f"WARNING - interface {inst.interface} for vrrp_instance "
                            f"{inst.name} doesn't exist")
                for t in inst.track_interface:
                    if t.name not in ifaces:
                        d.error(t.location, f"({inst.name}) tracked interface {t.name} doesn't exist")
                for v in (*inst.virtual_ipaddress, *inst.virtual_ipaddress_excluded):
                    if v.dev is not None and v.dev not in ifaces:
                        d.error(v.location, f"WARNING - interface {v.dev} for ip address {v.address} doesn't exist")
                for r in (*self._raw_routes[inst.location][0], *self._raw_routes[inst.location][1]):
                    route_interfaces(r.words, r.location, ifaces, d)
            if inst.virtual_router_id is not None:
                key = (inst.interface, inst.virtual_router_id, inst.family)
                other = seen_vrid.get(key)
                if other is not None and not inst.unicast_peer:
                    d.error(inst.location, f"({inst.name}) VRID {inst.virtual_router_id} is already used by "
                            f"{other} on interface {inst.interface}")
                seen_vrid[key] = inst.name
        typed_instances = []
        for inst in cfg.vrrp_instances:
            raw_routes, raw_rules = self._raw_routes[inst.location]
            routes = tuple(x for x in (parse_route(r, inst.family, d) for r in raw_routes) if x is not None)
            rules = tuple(x for x in (parse_rule(r, inst.family, d) for r in raw_rules) if x is not None)
            typed_instances.append(dataclasses.replace(inst, virtual_routes=routes, virtual_rules=rules)
                                   if raw_routes or raw_rules else inst)
        cfg = dataclasses.replace(
            cfg, vrrp_instances=tuple(typed_instances),
            static_routes=tuple(x for x in (parse_route(r, 4, d) for r in static_routes) if x is not None),
            static_rules=tuple(x for x in (parse_rule(r, 4, d) for r in static_rules) if x is not None),
        )
        if ifaces is not None:
            for v in cfg.static_ipaddress:
                if v.dev is not None and v.dev not in ifaces:
                    d.error(v.location, f"WARNING - interface {v.dev} for ip address {v.address} doesn't exist")
            for r in (*static_routes, *static_rules):
                route_interfaces(r.words, r.location, ifaces, d)
        for sg in cfg.sync_groups:
            if not sg.group:
                d.error(sg.location, f"Sync group {sg.name} has no virtual router(s) - removing")
            for member in sg.group:
                if member not in names:
                    d.error(sg.location, f"Virtual router {member} specified in sync group {sg.name} doesn't exist "
                            "- ignoring")
            check_refs(sg.name, sg.track_script, scripts, "track script")
        for name in sorted(used_scripts):
            s = scripts[name]
            assert s.script is not None
            self._scripts_used.append((s.script, s.location, f"vrrp_script {name}", True))
        # keepalived stops validating at "Non-existent interface specified in configuration", so the
        # script security check (and its exit status 6) is never reached in that case.
        if not any("doesn't exist" in x.message for x in d.items):
            self._script_security(g)
        return cfg

    def _script_security(self, g: GlobalDefs) -> None:
        """keepalived's check_script_secure: scripts run as root need enable_script_security (exit 6)."""
        d = self.diags
        default_user = g.script_user
        if default_user is None:
            default_user = "keepalived_script" if self.host.user_exists("keepalived_script") else None
        insecure = False
        for script, loc, what, tracked in self._scripts_used:
            if not script.argv:
                continue
            user = script.user or default_user
            # keepalived 2.2.7 looks a bare command name up as the script user, and for a non-root user
            # that fails (observed with `script_user nobody` and "killall -0 x"): treat it as not found.
            non_root_bare = user not in (None, "root") and "/" not in script.argv[0]
            if non_root_bare or self.host.find_executable(script.argv[0]) is None:
                if tracked:
                    d.error(loc, f"Disabling {what} since {script.argv[0]} not found/accessible")
                else:
                    d.notice(loc, f"{what}: {script.argv[0]} not found/accessible - script will not run")
                continue
            if g.enable_script_security and user is None:
                d.error(loc, f"Unable to set default user keepalived_script for {what} - removing")
                continue
            if g.enable_script_security and (why := self.host.script_refusal(script.argv, user, True)):
                d.error(loc, f"Disabling {what} due to insecure: {why}")
                continue
            if user in (None, "root") and not g.enable_script_security:
                insecure = True
        if insecure:
            d.add(Severity.SECURITY, Location("<config>", 0),
                  "SECURITY VIOLATION - scripts are being executed but script_security not enabled.")
