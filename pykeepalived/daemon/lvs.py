"""From the keepalived.conf model to what the checker process runs: check specs for ``checkers``, pool specs for
the virtual-server manager (``checkers.core.pool``), and the IPVS services and destinations (``ipvs.model``) the
pool's members become. This module is the one place that knows all three, so ``checkers`` and ``ipvs`` never
import each other.

Every problem with the input becomes an :class:`LvsSettingsError` naming the file and line of the block; a
keyword we recognise but cannot honour (BFD_CHECK, PCRE2-only regex options, bind_port on HTTP) is refused, not
ignored.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from checkers.core.pool import Member, Pool, RealServerSpec, Script, SorrySpec, VirtualServerSpec
from checkers.core.spec import (
    CheckSpec,
    DnsProbe,
    FileProbe,
    HttpProbe,
    MiscProbe,
    PingProbe,
    ProbeSpec,
    SmtpProbe,
    Target,
    TcpProbe,
    Timing,
    TlsSpec,
    UdpProbe,
    UrlSpec,
)
from checkers.io.dns import DNS_TYPES
from checkers.io.udp import parse_hex
from ipvs.model import (
    AF_INET,
    AF_INET6,
    F_ONEPACKET,
    F_PERSISTENT,
    TUN_F_CSUM,
    TUN_F_NOCSUM,
    TUN_F_REMCSUM,
    DesiredService,
    Destination,
    DestKey,
    Forward,
    Protocol,
    Service,
    ServiceKey,
    TunType,
    sched_flag_bits,
)
from pykeepalived.config import model
from pykeepalived.config.errors import Location
from vrrp.io.scripts import ScriptError, ScriptUser, resolve_user, script_refusal, secure_default_user

log = logging.getLogger("pykeepalived.checkers")

#: why keepalived would not run a script (None: it runs): ``vrrp.io.scripts.script_refusal``, the check ``-t``
#: reports with and the VRRP process applies; a parameter of :func:`build_lvs` so tests can stand in for the host
Refusal = Callable[[Sequence[str], ScriptUser | None, bool], str | None]


def _host_refusal(argv: Sequence[str], user: ScriptUser | None, script_security: bool) -> str | None:
    return script_refusal(argv, user, script_security=script_security)

#: checker keywords kept in ``extra`` that we honour (the rest are refused)
_CHECKER_EXTRA_OK = frozenset({"sni_name", "tls_compliant"})
_URL_EXTRA_OK: frozenset[str] = frozenset()
_FORWARD = {"NAT": Forward.NAT, "DR": Forward.DR, "TUN": Forward.TUNNEL}


class LvsSettingsError(ValueError):
    """A virtual server, real server or checker we cannot run; the message starts with FILE:LINE."""


@dataclass(frozen=True)
class LvsSettings:
    """Everything the checker process needs, keyed by the pool's keys.

    ``services[vs_key]`` are the IPVS services of one virtual server (several for a group), ``dests[(vs_key,
    member_key)]`` the destination a pool member becomes (its weight is replaced by the member's), and
    ``ha_suspend[vs_key]`` the addresses whose presence enables that virtual server's checks."""

    checks: tuple[CheckSpec, ...]
    pool: tuple[VirtualServerSpec, ...]
    services: dict[str, tuple[Service, ...]]
    dests: dict[tuple[str, str], Destination]
    ha_suspend: dict[str, tuple[str, ...]]
    fifos: tuple[str, ...] = ()  # global_defs notify_fifo and lvs_notify_fifo: where the pool's FIFO lines go
    #: each virtual and real server's own ``smtp_alert`` (None: not set), by key, for the e-mail alerts
    smtp_alert: dict[str, bool | None] = field(default_factory=dict)

    def new_pool(self) -> Pool:
        return Pool(self.pool)

    def desired(self, pool: Pool, vs_keys: Iterable[str] | None = None) -> list[DesiredService]:
        """The desired IPVS table (or the part of it for ``vs_keys``) given the pool's members now."""
        out: list[DesiredService] = []
        for vs_key in self.services if vs_keys is None else [k for k in vs_keys if k in self.services]:
            dests: dict[DestKey, Destination] = {}
            for m in pool.members(vs_key):
                d = self._dest(vs_key, m)
                # a sorry server may be one of the real servers (keepalived's s_svr_duplicates_rs): one entry,
                # at the larger of the two weights
                if d.key not in dests or d.weight > dests[d.key].weight:
                    dests[d.key] = d
            out.extend(DesiredService(svc, tuple(dests.values())) for svc in self.services[vs_key])
        return out

    def _dest(self, vs_key: str, member: Member) -> Destination:
        return self.dests[(vs_key, member.key)].with_(weight=member.weight)

    def service_keys(self, vs_keys: Iterable[str]) -> list[ServiceKey]:
        return [svc.key for k in vs_keys for svc in self.services.get(k, ())]  # a key a reload removed: none

    def check_enabled(self, local_addrs: Iterable[str]) -> dict[str, bool]:
        """ha_suspend: each check's enabled state given the addresses configured here now."""
        have = {str(ipaddress.ip_address(a)) for a in local_addrs}
        by_vs = {vs.key: vs for vs in self.pool}
        out: dict[str, bool] = {}
        for vs_key, addrs in self.ha_suspend.items():
            on = any(a in have for a in addrs)
            for rs in by_vs[vs_key].real_servers:
                for check in rs.checks:
                    out[check] = on
        return out


def _err(loc: Location | None, msg: str) -> LvsSettingsError:
    return LvsSettingsError(f"{loc}: {msg}" if loc is not None else msg)


class _Users:
    """Who scripts run as: their own ``user``, else global_defs' script_user, else keepalived_script if that
    account exists, else us (keepalived's rules, resolved once by vrrp.io.scripts); and whether they run at all:
    a script ``-t`` disables (script security, not found or not executable for its user) is dropped here, as
    keepalived drops it, never run (the VRRP process does the same in ``vrrp.io.driver``)."""

    def __init__(self, g: model.GlobalDefs, refusal: Refusal) -> None:
        self.g = g
        self.refusal = refusal
        self._default: ScriptUser | None = None

    def _user(self, s: model.Script, loc: Location) -> ScriptUser | None:
        """None: script security is on and no unprivileged user can be set (no user, no script_user, no
        keepalived_script account): such a script is refused, never run as root."""
        try:
            if s.user:
                return resolve_user(s.user, s.group)
            if self._default is None:
                self._default = secure_default_user(self.g.script_user, self.g.script_group,
                                                    script_security=self.g.enable_script_security)
            return self._default
        except ScriptError as exc:
            raise _err(loc, f"script user: {exc}") from None

    def runs_as(self, s: model.Script, loc: Location, what: str) -> tuple[int | None, int | None] | None:
        """(uid, gid) the script runs as, (None, None) for ourselves; None when it is disabled (logged)."""
        user = self._user(s, loc)
        why = self.refusal(s.argv, user, self.g.enable_script_security)
        if why is not None:
            log.error("%s: %s: %s - disabling", loc, what, why)
            return None
        if user is None or (user.uid == os.geteuid() and user.gid == os.getegid()):
            return None, None  # already us: no setuid needed (and none possible when not root)
        return user.uid, user.gid

    def script(self, s: model.Script | None, loc: Location, what: str) -> Script | None:
        if s is None:
            return None
        ids = self.runs_as(s, loc, what)
        return None if ids is None else Script(s.argv, *ids)


def _fmt(addr: str, proto: str, port: int) -> str:
    """keepalived's inet_sockaddrtotrio: ``[ip]:tcp:80``."""
    return f"[{addr}]:{proto.lower()}:{port}"


def _family(addr: str) -> int:
    return AF_INET6 if ipaddress.ip_address(addr).version == 6 else AF_INET


def _tunnel(text: str | None, loc: Location) -> dict[str, object]:
    if not text:
        return {}
    words = text.split()
    kw: dict[str, object] = {"tun_type": {"ipip": TunType.IPIP, "gue": TunType.GUE, "gre": TunType.GRE}[words[0]]}
    rest = words[1:]
    if words[0] == "gue":
        if len(rest) < 2 or rest[0] != "port" or not rest[1].isdigit():
            raise _err(loc, "TUN type gue needs 'port N'")
        kw["tun_port"] = int(rest[1])
        rest = rest[2:]
    for w in rest:
        flags = {"nocsum": TUN_F_NOCSUM, "csum": TUN_F_CSUM, "remcsum": TUN_F_REMCSUM}
        if w not in flags:
            raise _err(loc, f"unknown tunnel option {w!r}")
        kw["tun_flags"] = flags[w]
    return kw


def _services(vs: model.VirtualServer, groups: dict[str, model.VirtualServerGroup]) -> tuple[Service, ...]:
    flags = 0
    names = [f for f in vs.sched_flags if f not in ("ops", "hashed")]
    try:
        flags |= sched_flag_bits(vs.lvs_sched, names)
    except ValueError as exc:
        raise _err(vs.location, str(exc)) from None
    if "ops" in vs.sched_flags:
        flags |= F_ONEPACKET
    timeout = 0
    if vs.persistence_timeout is not None:
        flags |= F_PERSISTENT
        timeout = vs.persistence_timeout
    proto = int(Protocol[vs.protocol])
    keys: list[ServiceKey] = []
    if vs.group is not None:
        group = groups.get(vs.group)
        if group is None:
            raise _err(vs.location, f"virtual server group {vs.group} specified but not configured")
        for e in group.entries:
            keys.extend(_group_keys(e, proto, vs))
    elif vs.fwmark is not None:
        keys.append(ServiceKey.mark(vs.fwmark, AF_INET6 if vs.family == 6 else AF_INET))
    else:
        assert vs.address is not None
        keys.append(ServiceKey.inet(proto, vs.address, vs.port))
    out = []
    for key in keys:
        netmask = -1
        if vs.persistence_granularity:
            try:
                if key.af == AF_INET:
                    netmask = int(ipaddress.IPv4Address(vs.persistence_granularity))
                else:
                    netmask = int(vs.persistence_granularity)
            except ValueError:
                raise _err(vs.location, f"bad persistence_granularity {vs.persistence_granularity!r}") from None
        out.append(Service(key, vs.lvs_sched, flags, timeout, netmask, vs.persistence_engine or ""))
    return tuple(out)


def _group_keys(e: model.VsgEntry, proto: int, vs: model.VirtualServer) -> Iterator[ServiceKey]:
    if e.fwmark is not None:
        yield ServiceKey.mark(e.fwmark, AF_INET6 if e.family == 6 else AF_INET)
        return
    assert e.address is not None
    first = ipaddress.ip_address(e.address)
    last = ipaddress.ip_address(e.last) if e.last else first
    if int(last) - int(first) > 65535:
        raise _err(e.location, "virtual_server_group range is larger than 65536 addresses")
    for n in range(int(first), int(last) + 1):
        yield ServiceKey.inet(proto, str(ipaddress.ip_address(n) if first.version == 4 else ipaddress.IPv6Address(n)),
                              e.port or vs.port)


def _target(ck: model.Checker, rs: model.RealServer) -> Target:
    return Target(ck.connect_ip or rs.address, ck.connect_port if ck.connect_port is not None else rs.port,
                  ck.bindto, ck.bind_port, ck.bind_if, ck.fwmark)


_HOST_KEYWORDS = frozenset({"connect_ip", "connect_port", "bindto", "bind_port", "bind_if", "fwmark"})


def _targets(ck: model.Checker, rs: model.RealServer) -> list[Target]:
    """Where a checker connects: once, or - for SMTP_CHECK's deprecated ``host {}`` blocks - once per host
    (each host is its own check; the SMTP_CHECK's own address counts only when it sets a connection option or
    has no host block, as check_smtp.c decides)."""
    base = _target(ck, rs)
    hosts = [args for kw, args in ck.extra if kw == "host"] if ck.kind == "SMTP_CHECK" else []
    if not hosts:
        return [base]
    own = any(v is not None for v in (ck.connect_ip, ck.connect_port, ck.bindto, ck.bind_port, ck.bind_if,
                                      ck.fwmark))
    out = [base] if own else []
    for args in hosts:
        fields: dict[str, str] = {}
        for line in args:
            words = line.split()
            if not words or words[0] in ("{", "}"):
                continue
            if words[0] not in _HOST_KEYWORDS or len(words) != 2:
                raise _err(ck.location, f"SMTP_CHECK host block: '{line}' is not supported")
            fields[words[0]] = words[1]
        try:
            out.append(Target(
                str(ipaddress.ip_address(fields.get("connect_ip", base.ip))),
                int(fields.get("connect_port", base.port)),
                fields.get("bindto", base.bindto),
                int(fields["bind_port"]) if "bind_port" in fields else base.bind_port,
                fields.get("bind_if", base.bind_if),
                int(fields["fwmark"]) if "fwmark" in fields else base.fwmark,
            ))
        except ValueError as exc:
            raise _err(ck.location, f"SMTP_CHECK host block: {exc}") from None
    return out


def _extra(extra: model.Extra, ok: frozenset[str], where: str, loc: Location) -> dict[str, tuple[str, ...]]:
    out = {}
    for kw, args in extra:
        if kw not in ok:
            raise _err(loc, f"{where}: '{kw}' is not supported by pykeepalived's checkers")
        out[kw] = args
    return out


def _probe(ck: model.Checker, rs: model.RealServer, vs: model.VirtualServer, cfg: model.KeepalivedConfig,
           track_files: dict[str, model.TrackFile], users: _Users) -> ProbeSpec | None:
    """The probe of checker ``ck``; None for a MISC_CHECK whose script is disabled (logged by ``users``)."""
    ok = _CHECKER_EXTRA_OK | ({"host"} if ck.kind == "SMTP_CHECK" else frozenset())
    extra = _extra(ck.extra, ok, ck.kind, ck.location)
    match ck.kind:
        case "TCP_CHECK":
            return TcpProbe()
        case "HTTP_GET" | "SSL_GET":
            if ck.bind_port:
                raise _err(ck.location, f"{ck.kind}: bind_port is not supported (httpx binds the address only)")
            urls = []
            for u in ck.urls:
                _extra(u.extra, _URL_EXTRA_OK, "url", u.location)
                urls.append(UrlSpec(u.path or "/", u.digest, u.status_codes, u.virtualhost, u.regex, u.regex_no_match))
            if not urls:
                raise _err(ck.location, f"{ck.kind} has no url block")
            tls = None
            if ck.kind == "SSL_GET":
                s = cfg.ssl
                sni = extra.get("sni_name")
                tls = TlsSpec(s.ca if s else None, s.certificate if s else None, s.key if s else None,
                              s.password if s else None, ck.enable_sni, sni[0] if sni else None)
            return HttpProbe(tuple(urls), tls, ck.virtualhost or rs.virtualhost or vs.virtualhost,
                             ck.http_protocol or "1.0")
        case "SMTP_CHECK":
            return SmtpProbe(ck.helo_name or cfg.global_defs.smtp_helo_name or "smtpchecker.keepalived.org")
        case "DNS_CHECK":
            if ck.dns_type.upper() not in DNS_TYPES:
                raise _err(ck.location, f"DNS_CHECK type {ck.dns_type!r}: expected one of {'|'.join(DNS_TYPES)}")
            return DnsProbe(ck.dns_type.upper(), ck.dns_name)
        case "MISC_CHECK":
            if ck.misc_path is None:
                raise _err(ck.location, "MISC_CHECK: misc_path missing")
            ids = users.runs_as(ck.misc_path, ck.location, "MISC_CHECK misc_path")
            return None if ids is None else MiscProbe(ck.misc_path.argv, ck.misc_timeout, ck.misc_dynamic, *ids)
        case "UDP_CHECK":
            try:
                payload = parse_hex(ck.payload)[0] if ck.payload else b""
                reply, mask = parse_hex(ck.require_reply) if ck.require_reply else (b"", b"")
            except ValueError:
                raise _err(ck.location, "UDP_CHECK: invalid hex string") from None
            required = ck.require_reply is not None
            return UdpProbe(payload, required, reply, mask, ck.min_reply_length, ck.max_reply_length)
        case "PING_CHECK":
            return PingProbe()
        case "FILE_CHECK":
            tf = track_files.get(ck.track_file or "")
            if tf is None or tf.file is None:
                raise _err(ck.location, f"FILE_CHECK: track_file {ck.track_file!r} is not defined")
            weight = ck.weight if ck.weight is not None else tf.weight
            reverse = ck.weight_reverse if ck.weight is not None else tf.weight_reverse
            return FileProbe(tf.file, weight, reverse)
        case _:
            raise _err(ck.location, f"{ck.kind} is not supported by pykeepalived's checkers")


def _vs_identity(vs: model.VirtualServer) -> str:
    """What makes a virtual server the same one across a reload (keepalived's vs_iseq): its address, port and
    protocol, its fwmark and family, or its group, port and protocol."""
    if vs.fwmark is not None:
        return f"FWM {vs.fwmark} IPv{vs.family}"
    if vs.group is not None:
        return f"{vs.name}:{vs.protocol.lower()}"
    return vs.name


def _unique(seen: set[str], key: str) -> str:
    """``key``, or ``key#2``, ``key#3`` ... for a repeated one (the same server listed twice)."""
    out, n = key, 1
    while out in seen:
        n += 1
        out = f"{key}#{n}"
    seen.add(out)
    return out


def build_lvs(cfg: model.KeepalivedConfig, *, refusal: Refusal = _host_refusal) -> LvsSettings:
    """Map every virtual server of ``cfg``; raises :class:`LvsSettingsError` naming the offending block.

    Keys are identities, not positions: a virtual server is keyed by what keepalived compares on reload (address,
    port, protocol / fwmark / group), a real server by its virtual server and ``[ip]:proto:port``, a check by its
    real server and its place there; so a reload matches what stayed the same whatever moved around it."""
    groups = {g.name: g for g in cfg.virtual_server_groups}
    track_files = {t.name: t for t in cfg.track_files}
    checks: list[CheckSpec] = []
    pool: list[VirtualServerSpec] = []
    services: dict[str, tuple[Service, ...]] = {}
    dests: dict[tuple[str, str], Destination] = {}
    ha: dict[str, tuple[str, ...]] = {}
    users = _Users(cfg.global_defs, refusal)
    smtp_alert: dict[str, bool | None] = {}
    vs_keys: set[str] = set()
    for vs in cfg.virtual_servers:
        vs_key = _unique(vs_keys, _vs_identity(vs))
        smtp_alert[vs_key] = vs.smtp_alert
        svcs = _services(vs, groups)
        services[vs_key] = svcs
        proto = vs.protocol
        rs_specs = []
        rs_keys: set[str] = set()
        for rs in vs.real_servers:
            port = rs.port or (0 if vs.fwmark is not None or vs.group is not None else vs.port)
            name = _fmt(rs.address, proto, port)
            rs_key = _unique(rs_keys, f"{vs_key}|{name}")
            smtp_alert[rs_key] = rs.smtp_alert
            try:
                dests[(vs_key, rs_key)] = Destination.of(
                    rs.address, port, forward=_FORWARD[rs.lvs_method], weight=rs.weight, u_threshold=rs.uthreshold,
                    l_threshold=rs.lthreshold, **_tunnel(vs.tunnel_type if rs.lvs_method == "TUN" else None,
                                                        rs.location))
            except KeyError:
                raise _err(rs.location, f"unknown lvs_method {rs.lvs_method!r}") from None
            keys: list[str] = []
            alphas: list[str] = []
            for ci, ck in enumerate(rs.checkers):
                alpha = ck.alpha and ck.kind != "FILE_CHECK"  # a file's state is known at once (check_file.c)
                try:
                    probe = _probe(ck, rs, vs, cfg, track_files, users)
                except ValueError as exc:
                    if isinstance(exc, LvsSettingsError):
                        raise
                    raise _err(ck.location, f"{ck.kind}: {exc}") from None
                if probe is None:
                    continue  # keepalived frees a checker whose script it disables (check_misc_script_security)
                for hi, target in enumerate(_targets(ck, rs)):
                    key = f"{rs_key}/c{ci}" + (f"h{hi}" if hi else "")
                    try:
                        retry = 0 if ck.kind == "FILE_CHECK" else ck.retry  # a file's state applies at once
                        spec = CheckSpec(key, ck.kind, target, probe,
                                         Timing(ck.delay_loop, ck.connect_timeout, retry, ck.delay_before_retry,
                                                ck.warmup, alpha),
                                         name=name, log_all_failures=ck.log_all_failures)
                    except ValueError as exc:
                        raise _err(ck.location, f"{ck.kind}: {exc}") from None
                    checks.append(spec)
                    keys.append(key)
                    if alpha:
                        alphas.append(key)
            rs_specs.append(RealServerSpec(rs_key, name, rs.weight, rs.inhibit_on_failure,
                                           users.script(rs.notify_up, rs.location, "notify_up"),
                                           users.script(rs.notify_down, rs.location, "notify_down"), tuple(keys),
                                           tuple(alphas)))
        sorry = None
        if vs.sorry_server is not None:
            s = vs.sorry_server
            sport = 0 if vs.fwmark is not None else (s.port or vs.port)
            sorry_key = f"{vs_key}/sorry"
            sorry = SorrySpec(sorry_key, _fmt(s.address, proto, sport), 1, vs.sorry_server_inhibit)
            dests[(vs_key, sorry_key)] = Destination.of(s.address, sport, forward=_FORWARD[vs.lvs_method])
        pool.append(VirtualServerSpec(vs_key, vs.name, tuple(rs_specs), vs.quorum, vs.hysteresis,
                                      users.script(vs.quorum_up, vs.location, "quorum_up"),
                                      users.script(vs.quorum_down, vs.location, "quorum_down"), sorry, vs.omega))
        if vs.ha_suspend:
            ha[vs_key] = tuple(s.key.addr for s in svcs if s.key.addr)
    fifos = tuple(args[0] for kw, args in cfg.global_defs.extra if kw in ("notify_fifo", "lvs_notify_fifo") and args)
    return LvsSettings(tuple(checks), tuple(pool), services, dests, ha, fifos, smtp_alert)


@dataclass(frozen=True)
class LvsReload:
    """What a reload changes (:func:`plan_reload`), decided from the two settings alone.

    ``kept`` checks (same key, equal spec) keep their state machines: no restart, no new probe schedule;
    ``stopped`` ones end (removed, or changed: then also in ``started``); ``started`` ones begin as at start.
    ``dirty`` virtual servers (new, or whose pool spec, services, destinations or checks changed) are re-synced over
    ``service_keys`` (their old and new services, and those of removed virtual servers, which go); everything
    else is not touched: no IPVS read, no IPVS write."""

    kept: frozenset[str]
    stopped: tuple[str, ...]
    started: tuple[CheckSpec, ...]
    dirty: frozenset[str]
    removed: frozenset[str]
    service_keys: frozenset[ServiceKey]


def _dests_by_vs(s: LvsSettings) -> dict[str, dict[tuple[str, str], Destination]]:
    """Each virtual server's destinations (one pass: a reload of thousands of virtual servers stays linear)."""
    out: dict[str, dict[tuple[str, str], Destination]] = {}
    for k, d in s.dests.items():
        out.setdefault(k[0], {})[k] = d
    return out


def plan_reload(old: LvsSettings, new: LvsSettings) -> LvsReload:
    """The difference between the running settings and the reloaded ones (pure; see :class:`LvsReload`)."""
    old_checks = {c.key: c for c in old.checks}
    new_checks = {c.key: c for c in new.checks}
    kept = frozenset(k for k, c in new_checks.items() if old_checks.get(k) == c)
    old_pool = {v.key: v for v in old.pool}
    old_dests, new_dests = _dests_by_vs(old), _dests_by_vs(new)
    dirty = frozenset(
        v.key for v in new.pool
        if old_pool.get(v.key) != v or old.services.get(v.key) != new.services[v.key]
        or old_dests.get(v.key) != new_dests.get(v.key)
        or any(c not in kept for rs in v.real_servers for c in rs.checks)  # a (re)started check's start state
    )
    removed = frozenset(k for k in old.services if k not in new.services)
    keys = {svc.key for k in dirty | removed for svc in old.services.get(k, ())}
    keys |= {svc.key for k in dirty for svc in new.services[k]}
    return LvsReload(
        kept=kept,
        stopped=tuple(k for k in old_checks if k not in kept),
        started=tuple(c for k, c in new_checks.items() if k not in kept),
        dirty=dirty,
        removed=removed,
        service_keys=frozenset(keys),
    )
