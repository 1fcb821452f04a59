"""Grammar: keepalived.conf blocks and keywords -> typed model (keepalived 2.2.7 semantics).

Each block is read into a plain dict of dataclass field values by table-driven keyword handlers
(a handler raises ConfigError for an invalid value; the value is then ignored and the default kept,
as keepalived does). Defaults that depend on other blocks (global GARP timings, checker timing
inheritance virtual server -> real server -> checker) are resolved when the model is built, in
:mod:`.build`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import keywords as K
from .errors import NO_LOCATION, ConfigError, Diagnostics, Location
from .preprocess import Line
from .reader import BlockReader
from .values import (
    ip_text,
    need,
    to_bool,
    to_choice,
    to_float,
    to_int,
    to_ip,
    to_ip_prefix,
    to_port,
    weight_reverse,
)

Ctx = dict[str, Any]
Handler = Callable[["Parser", Ctx, list[str], Location, bool], None]
Table = dict[str, Handler]

INT32_MAX = 2**31 - 1
_BRACE_LINE = ["{"]
_CONSUMED: Line = ([], NO_LOCATION)  # what Parser.block leaves in place of a line it has read


# -- handler factories ------------------------------------------------------------------------
def h_flag(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        c[fld] = to_bool(a, fld)
    return h


def h_const(fld: str, value: Any) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        c[fld] = value
    return h


# The numeric handlers run once per line of a big config (weight, delay_loop, connect_timeout...):
# the "missing value" message is built once per handler, not once per call, and a plain decimal in
# range (nearly every value in practice) is stored without the call into values.to_int/to_float, which
# give the same number for it (tests/unit/test_config_perf.py) and handle everything else.
def h_int(fld: str, lo: int, hi: int) -> Handler:
    missing = f"missing value: expected an integer in [{lo}, {hi}]"

    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        if not a:
            raise ConfigError(missing)
        t = a[0]
        if t.isdigit() and t.isascii() and len(t) < 20:  # int() of thousands of digits raises
            v = int(t)
            if lo <= v <= hi:
                c[fld] = v
                return
        c[fld] = to_int(t, lo, hi, fld)
    return h


def h_float(fld: str, lo: float, hi: float) -> Handler:
    missing = f"missing value: expected a number of seconds in [{lo:g}, {hi:g}]"

    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        if not a:
            raise ConfigError(missing)
        t = a[0]
        if t.isdigit() and t.isascii():
            v = float(t)  # a whole number: to_float's round(v, 6) would not change it
            if lo <= v <= hi:
                c[fld] = v
                return
        c[fld] = to_float(t, lo, hi, fld)
    return h


def h_str(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, "a value")
        c[fld] = a[0]
    return h


def h_ip(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, "an IP address")
        c[fld] = str(to_ip(a[0]))
    return h


def h_choice(fld: str, choices: dict[str, str]) -> Handler:
    expected = "|".join(sorted(set(choices.values())))

    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, expected)
        c[fld] = to_choice(a[0], choices, fld)
    return h


def h_script(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, "a command (quote it when it has arguments)")
        c[fld] = make_script(a)
        c.setdefault("_script_locs", {})[fld] = loc
    return h


def h_extra(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    """A keyword keepalived accepts that we keep verbatim (and a block's lines, if it has one)."""
    if ob:
        body = [" ".join(w) for w, _ in p.r.words_of(loc)]
        a = [*a, "{", *body, "}"]
    c.setdefault("extra", []).append((p.kw, tuple(a)))


def make_script(a: list[str]) -> Any:
    # keepalived's own word split (quotes, escapes), shared with the daemon that runs the script; imported on
    # first use because most configs have no scripts, and start-up counts for -t
    from vrrp.io.scripts import ScriptError, split_words

    from .model import Script

    cmd = a[0]
    try:
        argv = tuple(split_words(cmd))
    except ScriptError:
        argv = tuple(cmd.split())
    user = a[1] if len(a) > 1 else None
    group = a[2] if len(a) > 2 else None
    if user and ":" in user:
        user, _, group = user.partition(":")
    return Script(cmd, argv, user, group or None)


class Parser:
    """Reads logical lines into raw block dicts; see :mod:`.build` for the model."""

    def __init__(self, reader: BlockReader, diags: Diagnostics) -> None:
        self.r = reader
        self.diags = diags
        self.kw = ""
        self.top: dict[str, list[Any]] = {k: [] for k in (
            "global_defs", "vrrp_script", "vrrp_track_process", "track_file", "vrrp_sync_group",
            "vrrp_instance", "virtual_server_group", "virtual_server", "static_ipaddress",
            "static_routes", "static_rules", "extra", "SSL", "garp_group", "linkbeat_interfaces", "track_group",
            "bfd_instance")}

    # Generic block loop: dispatch each keyword of the block through ``table``. This is the hot loop
    # (one iteration per config line), so it walks the reader's lines itself instead of using a generator.
    # Each line is released once read (the reader never goes back): its words and location go back to the
    # allocator and are reused for the block dicts, instead of the whole text staying alive until the end.
    # That matters for files that come as one list (macros, includes...): at 37k real servers it cut peak
    # memory by a quarter; plain files stream in chunks anyway (Preprocessor.stream, 85 MB peak in all).
    def block(self, table: Table, ctx: Ctx, opener: Location | None) -> Ctx:
        diags = self.diags
        r = self.r
        lines = r.lines
        n = r.n
        i = r.i  # local copy of the reader position; written back before anything else reads it
        while True:
            if i >= n:  # this list of lines is used up: on to the next chunk (Preprocessor.stream)
                r.i = i
                if not r.refill():
                    break
                lines, n, i = r.lines, r.n, 0
            words, loc = lines[i]
            lines[i] = _CONSUMED
            i += 1
            kw = words[0]
            if kw == "}":
                if opener is None:
                    diags.warning(loc, "Extra '}' found")
                    continue
                r.i = i
                return ctx
            if kw == "{":
                diags.warning(loc, "Unexpected '{' - ignoring")
                continue
            if words[-1] == "{":
                args = words[1:-1]
                opens = True
            else:
                args = words[1:]
                if i < n:
                    opens = lines[i][0] == _BRACE_LINE
                else:
                    r.i = i
                    opens = r.next_is_brace()
                    lines, n, i = r.lines, r.n, r.i
                if opens:
                    i += 1
            h = table.get(kw)
            r.i = i
            if h is None:
                diags.warning(loc, f"Unknown keyword '{kw}'")
                if opens:
                    r.skip(loc)
                    lines, n, i = r.lines, r.n, r.i
                continue
            self.kw = kw
            try:
                h(self, ctx, args, loc, opens)
            except ConfigError as e:
                diags.add(e.severity, loc, f"{kw}: {e.message}")
            if r.lines is not lines:  # the handler read into the next chunk
                lines, n = r.lines, r.n
            elif opens and r.i == i:  # the handler left its block unread
                r.skip(loc)
                lines, n = r.lines, r.n
            i = r.i
        r.i = i
        if opener is not None:
            diags.error(opener, "missing '}': block opened here is not closed before end of file")
        return ctx

    def run(self) -> dict[str, list[Any]]:
        self.block(TOP, {}, None)
        return self.top

    def named_block(self, kind: str, table: Table, a: list[str], loc: Location, ob: bool,
                    what: str) -> Ctx | None:
        if not ob:
            raise ConfigError(f"expected '{kind} {what} {{ ... }}'")
        if not a:
            self.r.skip(loc)
            raise ConfigError(f"missing {what}: expected '{kind} {what} {{ ... }}'")
        ctx: Ctx = {"name": a[0], "location": loc}
        self.block(table, ctx, loc)
        self.top[kind].append(ctx)
        return ctx


# -- list blocks ------------------------------------------------------------------------------
def _track_list(lo: int, hi: int, with_reverse_word: bool = True) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        from .model import TrackRef

        if not ob:
            raise ConfigError("expected a '{ NAME [weight N [reverse]] ... }' block")
        refs = c.setdefault(p.kw, [])
        for words, wloc in p.r.words_of(loc):
            name, rest = words[0], words[1:]
            weight: int | None = None
            reverse = False
            try:
                k = 0
                while k < len(rest):
                    if rest[k] == "weight" and k + 1 < len(rest):
                        weight = to_int(rest[k + 1], lo, hi, "weight")
                        k += 2
                    elif rest[k] in ("reverse", "noreverse"):
                        reverse = rest[k] == "reverse"
                        k += 1
                    else:
                        raise ConfigError(f"unexpected {rest[k]!r}: expected 'weight N [reverse]'")
            except ConfigError as e:
                p.diags.error(wloc, f"{p.kw} {name}: {e.message}")
                continue
            refs.append(TrackRef(name, wloc, weight, reverse))
    return h


def _vip_list(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        if not ob:
            raise ConfigError("expected a '{ IP[/len] [dev IF] ... }' block")
        out = c.setdefault(fld, [])
        for words, wloc in p.r.words_of(loc):
            try:
                out.append(parse_vip(words, wloc))
            except ConfigError as e:
                p.diags.error(wloc, f"{p.kw}: {e.message} - skipping")
    return h


_VIP_OPTS_WITH_ARG = {"brd", "broadcast", "dev", "scope", "label", "peer", "preferred_lft", "metric", "track_group"}
_VIP_FLAGS = {"home", "-nodad", "nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track", "use_vmac"}


def parse_vip(words: list[str], loc: Location) -> Any:
    from .model import VirtualAddress

    ip, plen = to_ip_prefix(words[0])
    kw: dict[str, Any] = {}
    opts: list[str] = []
    k = 1
    while k < len(words):
        w = words[k]
        if w in _VIP_OPTS_WITH_ARG:
            if k + 1 >= len(words):
                raise ConfigError(f"'{w}' needs a value")
            v = words[k + 1]
            if w in ("brd", "broadcast"):
                if v not in ("+", "-"):
                    to_ip(v, "broadcast address")
                kw["brd"] = v
            elif w in ("dev", "scope", "label", "peer"):
                if w == "peer":
                    to_ip_prefix(v, "peer address")
                kw[w] = v
            else:
                opts.extend((w, v))
            k += 2
        elif w in _VIP_FLAGS:
            if w == "no_track":
                kw["no_track"] = True
            elif w == "use_vmac":
                kw["use_vmac"] = True
            else:
                opts.append(w)
            k += 1
        else:
            raise ConfigError(f"unknown address option {w!r}")
    return VirtualAddress(str(ip), plen, ip.version, loc, options=tuple(opts), **kw)


def _raw_list(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        from .routes import RawEntry

        if not ob:
            raise ConfigError("expected a '{ ... }' block")
        out = c.setdefault(fld, [])
        for words, wloc in p.r.words_of(loc):
            out.append(RawEntry(tuple(words), wloc))
    return h


def _word_list(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        if not ob:
            raise ConfigError("expected a '{ ... }' block")
        out = c.setdefault(fld, [])
        for words, _ in p.r.words_of(loc):
            out.extend(words)
    return h


# -- global_defs ------------------------------------------------------------------------------
def _g_smtp_server(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "an IP address or host name [port]")
    c["smtp_server"] = a[0]
    if len(a) > 1:
        c["smtp_port"] = to_port(a[1])


def _g_script_user(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "a user name [[:]group]")
    user, _, group = a[0].partition(":")
    c["script_user"] = user
    if group or len(a) > 1:
        c["script_group"] = group or a[1]


def _g_lvs_timeouts(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    out = []
    for k in range(0, len(a) - 1, 2):
        if a[k] not in ("tcp", "tcpfin", "udp"):
            raise ConfigError(f"unknown timeout {a[k]!r}: expected tcp|tcpfin|udp SECONDS")
        out.append((a[k], to_int(a[k + 1], 0, 86400 * 31, f"{a[k]} timeout")))
    if len(a) % 2:
        raise ConfigError("expected pairs of 'tcp|tcpfin|udp SECONDS'")
    c["lvs_timeouts"] = tuple(out)


def _g_mcast(fld: str, version: int) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, "a multicast address")
        ip = to_ip(a[0], "multicast group")
        if ip.version != version or not ip.is_multicast:
            raise ConfigError(f"{a[0]!r} is not an IPv{version} multicast address")
        c[fld] = str(ip)
    return h


GLOBAL: Table = {
    "router_id": h_str("router_id"),
    "notification_email": _word_list("notification_email"),
    "notification_email_from": h_str("notification_email_from"),
    "smtp_server": _g_smtp_server,
    "smtp_connect_timeout": h_int("smtp_connect_timeout", 1, 86400),
    "smtp_helo_name": h_str("smtp_helo_name"),
    "smtp_alert": h_flag("smtp_alert"),
    "smtp_alert_vrrp": h_flag("smtp_alert_vrrp"),
    "smtp_alert_checker": h_flag("smtp_alert_checker"),
    "script_user": _g_script_user,
    "enable_script_security": h_flag("enable_script_security"),
    "vrrp_version": h_int("vrrp_version", 2, 3),
    "vrrp_mcast_group4": _g_mcast("vrrp_mcast_group4", 4),
    "vrrp_mcast_group6": _g_mcast("vrrp_mcast_group6", 6),
    "vrrp_garp_master_delay": h_float("vrrp_garp_master_delay", 0, 86400),
    "vrrp_garp_master_repeat": h_int("vrrp_garp_master_repeat", 1, 65535),
    "vrrp_garp_master_refresh": h_float("vrrp_garp_master_refresh", 0, 86400),
    "vrrp_garp_master_refresh_repeat": h_int("vrrp_garp_master_refresh_repeat", 1, 65535),
    "vrrp_garp_lower_prio_delay": h_float("vrrp_garp_lower_prio_delay", 0, 86400),
    "vrrp_garp_lower_prio_repeat": h_int("vrrp_garp_lower_prio_repeat", 0, 65535),
    "vrrp_garp_interval": h_float("vrrp_garp_interval", 0, 1),
    "vrrp_gna_interval": h_float("vrrp_gna_interval", 0, 1),
    "vrrp_min_garp": h_flag("vrrp_min_garp"),
    "vrrp_down_timer_adverts": h_int("vrrp_down_timer_adverts", 1, 100),
    "vrrp_lower_prio_no_advert": h_flag("vrrp_lower_prio_no_advert"),
    "vrrp_higher_prio_send_advert": h_flag("vrrp_higher_prio_send_advert"),
    "vrrp_check_unicast_src": h_flag("vrrp_check_unicast_src"),
    "vrrp_skip_check_adv_addr": h_flag("vrrp_skip_check_adv_addr"),
    "vrrp_strict": h_flag("vrrp_strict"),
    "vrrp_startup_delay": h_float("vrrp_startup_delay", 0, 3600),
    "dynamic_interfaces": h_const("dynamic_interfaces", True),
    "default_interface": h_str("default_interface"),
    "lvs_flush": h_flag("lvs_flush"),
    "lvs_sync_daemon": lambda p, c, a, loc, ob: c.__setitem__("lvs_sync_daemon", tuple(a)),
    "lvs_timeouts": _g_lvs_timeouts,
    "max_auto_priority": lambda p, c, a, loc, ob: c.__setitem__(
        "max_auto_priority", to_int(a[0], -1, 99, "max_auto_priority") if a else 99),
    "random_seed": h_int("random_seed", 0, 2**32 - 1),
}
for _k in K.GLOBAL_EXTRA:
    GLOBAL.setdefault(_k, h_extra)


# -- vrrp_script / vrrp_track_process / track_file --------------------------------------------
def _weight(lo: int, hi: int) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        c["weight"], c["weight_reverse"] = weight_reverse(a, lo, hi)
    return h


def _user(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "a user name [[:]group]")
    user, _, group = a[0].partition(":")
    c["_user"] = (user, group or (a[1] if len(a) > 1 else None))


VRRP_SCRIPT: Table = {
    "script": h_script("script"),
    "interval": h_float("interval", 0.000001, 86400),
    "timeout": h_float("timeout", 0.000001, 86400),
    "weight": _weight(-253, 253),
    "rise": h_int("rise", 1, INT32_MAX),
    "fall": h_int("fall", 1, INT32_MAX),
    "user": _user,
    "init_fail": h_const("init_fail", True),
}


def _tp_process(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "a process name [args...]")
    c["process"] = a[0]
    c["args"] = tuple(a[1:])


TRACK_PROCESS: Table = {
    "process": _tp_process,
    "full_command": h_const("full_command", True),
    "param_match": h_choice("param_match", {"initial": "initial", "partial": "partial"}),
    "weight": _weight(-254, 254),
    "quorum": h_int("quorum", 1, 65535),
    "quorum_max": h_int("quorum_max", 0, 65535),
    "fork_delay": h_float("fork_delay", 0, 86400),
    "terminate_delay": h_float("terminate_delay", 0, 86400),
    "delay": lambda p, c, a, loc, ob: c.update(
        fork_delay=to_float(a[0], 0, 86400, "delay"), terminate_delay=to_float(a[0], 0, 86400, "delay"))
    if a else need(a, 1, "seconds"),
}


def _tf_init(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    c["init_file"] = True
    for w in a:
        if w == "overwrite":
            c["init_overwrite"] = True
        else:
            c["init_value"] = to_int(w, -(2**31), INT32_MAX, "init_file value")


TRACK_FILE: Table = {
    "file": h_str("file"),
    "weight": _weight(-INT32_MAX, INT32_MAX),
    "init_file": _tf_init,
}

_NOTIFY_KW = {"notify_master": "master", "notify_backup": "backup", "notify_fault": "fault",
              "notify_stop": "stop", "notify_deleted": "deleted", "notify": "notify",
              "notify_master_rx_lower_pri": "master_rx_lower_pri"}


def _notify(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "a command (quote it when it has arguments)")
    c.setdefault("notify", {})[_NOTIFY_KW[p.kw]] = make_script(a)
    c.setdefault("_script_locs", {})[p.kw] = loc


SYNC_GROUP: Table = {
    "group": _word_list("group"),
    "track_interface": _track_list(-253, 253),
    "track_script": _track_list(-253, 253),
    "track_file": _track_list(-INT32_MAX, INT32_MAX),
    "track_process": _track_list(-254, 254),
    "notify_priority_changes": h_flag("notify_priority_changes"),
    "smtp_alert": h_flag("smtp_alert"),
    "sync_group_tracking_weight": h_const("sync_group_tracking_weight", True),
    "global_tracking": h_extra,
    "track_bfd": h_extra,
    **{k: _notify for k in _NOTIFY_KW},
}


# -- vrrp_instance ------------------------------------------------------------------------------
def _i_unicast_peer(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    from .model import UnicastPeer

    if not ob:
        raise ConfigError("expected a '{ IP [min_ttl N] [max_ttl N] ... }' block")
    out = c.setdefault("unicast_peer", [])
    for words, wloc in p.r.words_of(loc):
        try:
            ip = to_ip(words[0], "unicast peer address")
            ttl: dict[str, int] = {}
            rest = words[1:]
            if len(rest) % 2:
                raise ConfigError(f"unexpected {rest[-1]!r}: expected min_ttl N / max_ttl N")
            for k in range(0, len(rest), 2):
                if rest[k] not in ("min_ttl", "max_ttl"):
                    raise ConfigError(f"unknown option {rest[k]!r}: expected min_ttl N / max_ttl N")
                ttl[rest[k]] = to_int(rest[k + 1], 0, 255, rest[k])
            out.append(UnicastPeer(str(ip), wloc, **ttl))
        except ConfigError as e:
            p.diags.error(wloc, f"unicast_peer: {e.message} - skipping")


def _i_auth(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob:
        raise ConfigError("expected '{ auth_type PASS|AH; auth_pass SECRET }'")
    for kw, args, wloc, _opens in p.r.body(loc):
        try:
            if kw == "auth_type":
                need(args, 1, "PASS|AH")
                c["auth_type"] = to_choice(args[0], {"PASS": "PASS", "AH": "AH"}, "auth_type")
            elif kw == "auth_pass":
                need(args, 1, "a password (up to 8 characters are used)")
                if len(args[0]) > 8:
                    p.diags.warning(wloc, "Truncating auth_pass to 8 characters")
                c["auth_pass"] = args[0][:8]
            else:
                p.diags.warning(wloc, f"Unknown keyword '{kw}'")
        except ConfigError as e:
            p.diags.error(wloc, f"{kw}: {e.message}")


def _i_state(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "MASTER|BACKUP")
    if a[0] == "MASTER":
        c["state"] = "MASTER"
    elif a[0] == "BACKUP":
        c["state"] = "BACKUP"
    else:
        raise ConfigError(f"unknown state {a[0]!r}: expected MASTER|BACKUP - defaulting to BACKUP")


def _i_priority(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "an integer in [1, 255]")
    try:
        c["priority"] = to_int(a[0], 1, 255, "priority")
    except ConfigError as e:
        raise ConfigError(f"{e.message} - Priority not valid! must be between 1 & 255. Using default 100") from None


#: Longest interface name the kernel accepts (IFNAMSIZ - 1).
_IFNAME_MAX = 15


def _i_use_vmac(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    """keepalived 2.2.7 keeps the VMAC but ignores a name the kernel would refuse (default ``vrrp.VRID``)."""
    name = a[0] if a else ""
    bad = len(name) > _IFNAME_MAX or name in (".", "..") or any(ch in name for ch in "/:") or not name.isprintable()
    c["use_vmac"] = "" if bad else name
    if bad:
        raise ConfigError(f"VMAC interface name '{name}' too long or invalid characters - ignoring")


def _i_advert(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "seconds in [0.01, 255]")
    c["advert_int"] = to_float(a[0], 0.01, 255, "advert_int")
    c["_advert_loc"] = loc


def _i_accept(value: bool) -> Handler:
    return h_const("accept", value)


INSTANCE: Table = {
    "state": _i_state,
    "interface": h_str("interface"),
    "virtual_router_id": h_int("virtual_router_id", 1, 255),
    "priority": _i_priority,
    "advert_int": _i_advert,
    "version": h_int("version", 2, 3),
    "nopreempt": h_const("nopreempt", True),
    "preempt": h_const("nopreempt", False),
    "preempt_delay": h_float("preempt_delay", 0, 1000),
    "virtual_ipaddress": _vip_list("virtual_ipaddress"),
    "virtual_ipaddress_excluded": _vip_list("virtual_ipaddress_excluded"),
    "virtual_routes": _raw_list("virtual_routes"),
    "virtual_rules": _raw_list("virtual_rules"),
    "unicast_src_ip": h_ip("unicast_src_ip"),
    "unicast_peer": _i_unicast_peer,
    "unicast_ttl": h_int("unicast_ttl", 1, 255),
    "mcast_src_ip": h_ip("mcast_src_ip"),
    "mcast_dst_ip": h_ip("mcast_dst_ip"),
    "authentication": _i_auth,
    "track_interface": _track_list(-253, 253),
    "track_script": _track_list(-253, 253),
    "track_file": _track_list(-INT32_MAX, INT32_MAX),
    "track_process": _track_list(-254, 254),
    "dont_track_primary": h_const("dont_track_primary", True),
    "accept": _i_accept(True),
    "no_accept": _i_accept(False),
    "strict_mode": h_flag("strict_mode"),
    "skip_check_adv_addr": h_flag("skip_check_adv_addr"),
    "garp_master_delay": h_float("garp_master_delay", 0, 86400),
    "garp_master_repeat": h_int("garp_master_repeat", 1, 65535),
    "garp_master_refresh": h_float("garp_master_refresh", 0, 86400),
    "garp_master_refresh_repeat": h_int("garp_master_refresh_repeat", 1, 65535),
    "garp_lower_prio_delay": h_float("garp_lower_prio_delay", 0, 86400),
    "garp_lower_prio_repeat": h_int("garp_lower_prio_repeat", 0, 65535),
    "down_timer_adverts": h_int("down_timer_adverts", 1, 100),
    "lower_prio_no_advert": h_flag("lower_prio_no_advert"),
    "higher_prio_send_advert": h_flag("higher_prio_send_advert"),
    "notify_priority_changes": h_flag("notify_priority_changes"),
    "smtp_alert": h_flag("smtp_alert"),
    "use_vmac": _i_use_vmac,
    "vmac_xmit_base": h_const("vmac_xmit_base", True),
    "lvs_sync_daemon_interface": h_str("lvs_sync_daemon_interface"),
    **{k: _notify for k in _NOTIFY_KW},
}
for _k in K.INSTANCE_EXTRA:
    INSTANCE.setdefault(_k, h_extra)


# -- virtual_server_group -----------------------------------------------------------------------
def parse_vsg_entry(words: list[str], loc: Location) -> Any:
    from .model import VsgEntry

    if words[0] == "fwmark":
        need(words, 2, "fwmark N [inet|inet6]")
        fam = 6 if len(words) > 2 and words[2] == "inet6" else 4
        return VsgEntry(loc, fwmark=to_int(words[1], 1, 2**32 - 1, "fwmark"), family=fam)
    text = words[0]
    port = to_port(words[1]) if len(words) > 1 else 0
    if "/" in text:
        ip, plen = to_ip_prefix(text)
        import ipaddress

        net = ipaddress.ip_network(f"{ip}/{plen}", strict=False)
        return VsgEntry(loc, str(net.network_address), str(net.broadcast_address), port, None, ip.version)
    if "-" in text:
        first, _, last = text.rpartition("-")
        ip = to_ip(first)
        sep = "." if ip.version == 4 else ":"
        head = first.rsplit(sep, 1)[0]
        last_ip = to_ip(last) if sep in last else to_ip(f"{head}{sep}{last}")
        if int(last_ip) < int(ip):
            raise ConfigError(f"range {text!r} ends before it starts")
        return VsgEntry(loc, str(ip), str(last_ip), port, None, ip.version)
    ip = to_ip(text)
    return VsgEntry(loc, str(ip), None, port, None, ip.version)


def _top_vsg(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob or not a:
        raise ConfigError("expected 'virtual_server_group NAME { IP [PORT] | IP-RANGE [PORT] | fwmark N ... }'")
    entries = []
    for words, wloc in p.r.words_of(loc):
        try:
            entries.append(parse_vsg_entry(words, wloc))
        except ConfigError as e:
            p.diags.error(wloc, f"virtual_server_group {a[0]}: {e.message} - skipping")
    p.top["virtual_server_group"].append({"name": a[0], "location": loc, "entries": tuple(entries)})


# -- virtual_server / real_server / checkers -----------------------------------------------------
SCHEDULERS = {s: s for s in ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr",
                              "sed", "nq", "twos")}


def _v_sched(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not a:
        raise ConfigError("missing value: expected " + "|".join(SCHEDULERS))
    if a[0] not in SCHEDULERS:
        raise ConfigError(f"Invalid lvs_scheduler {a[0]!r}: expected one of {'|'.join(SCHEDULERS)} - ignoring")
    c["lvs_sched"] = a[0]


def _v_method(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "NAT|DR|TUN")
    m = a[0].upper()
    if m not in ("NAT", "DR", "TUN"):
        raise ConfigError(f"invalid forwarding method {a[0]!r}: expected NAT|DR|TUN")
    c["lvs_method"] = m
    if m == "TUN" and len(a) > 1:
        if a[1] != "type" or len(a) < 3 or a[2] not in ("ipip", "gue", "gre"):
            raise ConfigError("expected 'TUN [type ipip|gue port N|gre] [nocsum|csum|remcsum]'")
        c["tunnel_type"] = " ".join(a[2:])


_PROTOCOLS = {"TCP": "TCP", "UDP": "UDP", "SCTP": "SCTP"}


def _v_proto(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "TCP|UDP|SCTP")
    c["protocol"] = to_choice(a[0], _PROTOCOLS, "protocol")
    c["_proto_loc"] = loc


def _v_persist(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    c["persistence_timeout"] = to_int(a[0], 1, 2**32 - 1, "persistence_timeout") if a else 360


def _v_sorry(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    from .model import SorryServer

    need(a, 1, "IP [PORT]")
    ip = to_ip(a[0], "sorry server address")
    c["sorry_server"] = SorryServer(str(ip), to_port(a[1]) if len(a) > 1 else 0, loc)


def _v_flag(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if p.kw.startswith(("sh-", "mh-")) and c.get("lvs_sched") != p.kw[:2]:
        raise ConfigError(f"only valid after 'lvs_sched {p.kw[:2]}' - ignoring")
    c.setdefault("sched_flags", []).append(p.kw)


def _timing(prefix: str = "") -> Table:
    return {
        "delay_loop": h_float("delay_loop", 0.000001, 86400 * 365),
        "connect_timeout": h_float("connect_timeout", 0.000001, 86400),
        "retry": h_int("retry", 0, INT32_MAX),
        "delay_before_retry": h_float("delay_before_retry", 0, 86400),
        "warmup": h_float("warmup", 0, 86400 * 365),
        "alpha": h_flag("alpha"),
    }


CHECKER_COMMON: Table = {
    "connect_ip": h_ip("connect_ip"),
    "connect_port": h_int("connect_port", 0, 65535),
    "bindto": h_ip("bindto"),
    "bind_if": h_str("bind_if"),
    "bind_port": h_int("bind_port", 0, 65535),
    "fwmark": h_int("fwmark", 0, 2**32 - 1),
    "log_all_failures": h_flag("log_all_failures"),
    **_timing(),
}


def _status_codes(text_args: list[str]) -> tuple[tuple[int, int], ...]:
    out = []
    for t in text_args:
        lo, _, hi = t.partition("-")
        a = to_int(lo, 100, 999, "status code")
        b = to_int(hi, 100, 999, "status code") if hi else a
        out.append((a, b))
    return tuple(out)


def _c_url(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    from .model import Url

    if not ob:
        raise ConfigError("expected 'url { path ...; status_code ... }'")
    u: Ctx = {"location": loc}
    for kw, args, wloc, _opens in p.r.body(loc):
        try:
            if kw == "path":
                need(args, 1, "a URL path")
                u["path"] = args[0]
            elif kw == "digest":
                need(args, 1, "a hex digest")
                if not all(ch in "0123456789abcdefABCDEF" for ch in args[0]):
                    raise ConfigError(f"invalid digest {args[0]!r}: expected hex digits")
                u["digest"] = args[0].lower()
            elif kw == "status_code":
                need(args, 1, "status codes or ranges (200-299 404)")
                u["status_codes"] = _status_codes(args)
            elif kw == "virtualhost":
                need(args, 1, "a host name")
                u["virtualhost"] = args[0]
            elif kw == "regex":
                need(args, 1, "a regular expression")
                u["regex"] = args[0]
            elif kw == "regex_no_match":
                u["regex_no_match"] = True
            elif kw in ("regex_options", "regex_min_offset", "regex_max_offset", "regex_stack"):
                u.setdefault("extra", []).append((kw, tuple(args)))
            else:
                p.diags.warning(wloc, f"Unknown keyword '{kw}'")
        except ConfigError as e:
            p.diags.error(wloc, f"{kw}: {e.message}")
    if "extra" in u:
        u["extra"] = tuple(u["extra"])
    c.setdefault("urls", []).append(Url(**u))


def _c_http_protocol(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "1.0|1.0C|1.1")
    c["http_protocol"] = to_choice(a[0], {"1.0": "1.0", "1.0C": "1.0C", "1.0c": "1.0C", "1.1": "1.1"},
                                   "http_protocol")


def _c_nb_get_retry(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    p.diags.warning(loc, "nb_get_retry is deprecated - please use 'retry'")
    h_int("retry", 0, INT32_MAX)(p, c, a, loc, ob)


HTTP_CHECK: Table = {
    **CHECKER_COMMON,
    "nb_get_retry": _c_nb_get_retry,
    "url": _c_url,
    "http_protocol": _c_http_protocol,
    "virtualhost": h_str("virtualhost"),
    "fast_recovery": h_flag("fast_recovery"),
    "enable_sni": h_flag("enable_sni"),
    "sni_name": h_extra,
    "tls_compliant": h_extra,
}
TCP_CHECK: Table = dict(CHECKER_COMMON)
PING_CHECK: Table = dict(CHECKER_COMMON)
SMTP_CHECK: Table = {**CHECKER_COMMON, "helo_name": h_str("helo_name"), "host": h_extra}
DNS_CHECK: Table = {
    **CHECKER_COMMON,
    "type": h_choice("dns_type", {t: t for t in ("A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA")}),
    "name": h_str("dns_name"),
}
MISC_CHECK: Table = {
    **{k: v for k, v in _timing().items() if k != "connect_timeout"},
    "misc_path": h_script("misc_path"),
    "misc_timeout": h_float("misc_timeout", 0.000001, 86400),
    "misc_dynamic": h_flag("misc_dynamic"),
    "user": _user,
    "log_all_failures": h_flag("log_all_failures"),
}


def _c_hex(fld: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, "hex bytes")
        t = "".join(a)
        allowed = "0123456789abcdefABCDEF" + ("xX" if fld == "require_reply" else "")
        if not t or not all(ch in allowed for ch in t):
            raise ConfigError(f"invalid {fld} {t!r}: expected hex digits")
        c[fld] = t
    return h


UDP_CHECK: Table = {
    **CHECKER_COMMON,
    "payload": _c_hex("payload"),
    "require_reply": _c_hex("require_reply"),
    "min_reply_length": h_int("min_reply_length", 0, 65535),
    "max_reply_length": h_int("max_reply_length", 0, 65535),
}
FILE_CHECK: Table = {
    "track_file": h_str("track_file"),
    "file": h_str("track_file"),
    "weight": _weight(-INT32_MAX, INT32_MAX),
    "dynamic": h_flag("dynamic"),
    "delay_loop": h_float("delay_loop", 0.000001, 86400 * 365),
}
BFD_CHECK: Table = {"name": h_str("name"), "alpha": h_flag("alpha"), "weight": _weight(-253, 253)}

CHECKERS: dict[str, Table] = {
    "TCP_CHECK": TCP_CHECK, "HTTP_GET": HTTP_CHECK, "SSL_GET": HTTP_CHECK, "SMTP_CHECK": SMTP_CHECK,
    "DNS_CHECK": DNS_CHECK, "MISC_CHECK": MISC_CHECK, "UDP_CHECK": UDP_CHECK, "PING_CHECK": PING_CHECK,
    "FILE_CHECK": FILE_CHECK, "BFD_CHECK": BFD_CHECK,
}


def _checker(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    kind = p.kw
    ck: Ctx = {"kind": kind, "location": loc}
    if ob:
        p.block(CHECKERS[kind], ck, loc)
    cks = c.get("_checkers")
    if cks is None:
        c["_checkers"] = [ck]
    else:
        cks.append(ck)


REAL_SERVER: Table = {
    "weight": h_int("weight", 0, INT32_MAX),
    "lvs_method": _v_method,
    "notify_up": h_script("notify_up"),
    "notify_down": h_script("notify_down"),
    "uthreshold": h_int("uthreshold", 0, INT32_MAX),
    "lthreshold": h_int("lthreshold", 0, INT32_MAX),
    "inhibit_on_failure": h_flag("inhibit_on_failure"),
    "smtp_alert": h_flag("smtp_alert"),
    "virtualhost": h_str("virtualhost"),
    "snmp_name": h_extra,
    **_timing(),
    **{k: _checker for k in CHECKERS},
}


def _v_real_server(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not a:
        raise ConfigError("missing value: expected real_server IP [PORT] { ... }")
    addr, family = ip_text(a[0], "real server address")
    port = 0
    if len(a) > 1:
        t = a[1]
        port = int(t) if t.isdigit() and t.isascii() and len(t) < 6 else -1  # a plain port without to_port
        if not 0 <= port <= 65535:
            port = to_port(t)
    rs: Ctx = {"address": addr, "port": port, "location": loc, "_family": family}
    if ob:
        p.block(REAL_SERVER, rs, loc)
    rss = c.get("_real_servers")
    if rss is None:
        c["_real_servers"] = [rs]
    else:
        rss.append(rs)


VIRTUAL_SERVER: Table = {
    "lvs_sched": _v_sched,
    "lb_algo": _v_sched,
    "lvs_method": _v_method,
    "lb_kind": _v_method,
    "protocol": _v_proto,
    "persistence_timeout": _v_persist,
    "persistence_granularity": h_str("persistence_granularity"),
    "persistence_engine": h_str("persistence_engine"),
    "ha_suspend": h_flag("ha_suspend"),
    "alpha": h_flag("alpha"),
    "omega": h_flag("omega"),
    "quorum": h_int("quorum", 1, INT32_MAX),
    "hysteresis": h_int("hysteresis", 0, INT32_MAX),
    "quorum_up": h_script("quorum_up"),
    "quorum_down": h_script("quorum_down"),
    "sorry_server": _v_sorry,
    "sorry_server_inhibit": h_flag("sorry_server_inhibit"),
    "sorry_server_lvs_method": h_extra,
    "inhibit_on_failure": h_flag("inhibit_on_failure"),
    "virtualhost": h_str("virtualhost"),
    "smtp_alert": h_flag("smtp_alert"),
    "real_server": _v_real_server,
    **{f: _v_flag for f in ("flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback",
                            "ops", "hashed")},
    **_timing(),
}
for _k in K.VS_EXTRA:
    VIRTUAL_SERVER.setdefault(_k, h_extra)


def _top_vs(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob:
        raise ConfigError("expected 'virtual_server IP PORT|fwmark N|group NAME { ... }'")
    vs: Ctx = {"location": loc}
    try:
        need(a, 1, "IP PORT, 'fwmark N' or 'group NAME'")
        if a[0] == "fwmark":
            need(a, 2, "fwmark N")
            vs["fwmark"] = to_int(a[1], 1, 2**32 - 1, "fwmark")
        elif a[0] == "group":
            need(a, 2, "group NAME")
            vs["group"] = a[1]
        else:
            vs["address"], vs["family"] = ip_text(a[0], "virtual server address")
            if len(a) > 1:
                vs["port"] = to_port(a[1])
    except ConfigError:
        p.r.skip(loc)
        raise
    p.block(VIRTUAL_SERVER, vs, loc)
    p.top["virtual_server"].append(vs)


# -- top level ------------------------------------------------------------------------------------
def _top_global(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob:
        raise ConfigError("expected 'global_defs { ... }'")
    ctx = p.top["global_defs"][0] if p.top["global_defs"] else {}
    if not p.top["global_defs"]:
        p.top["global_defs"].append(ctx)
    p.block(GLOBAL, ctx, loc)


def _named(kind: str, table: Table, what: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        p.named_block(kind, table, a, loc, ob, what)
    return h


def _top_static(kind: str) -> Handler:
    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        if not ob:
            raise ConfigError(f"expected '{kind} {{ ... }}'")
        if kind == "static_ipaddress":
            ctx: Ctx = {}
            _vip_list("entries")(p, ctx, a, loc, ob)
            p.top[kind].extend(ctx.get("entries", []))
        else:
            ctx = {}
            _raw_list("entries")(p, ctx, a, loc, ob)
            p.top[kind].extend(ctx.get("entries", []))
    return h


def _top_extra(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    ctx: Ctx = {}
    h_extra(p, ctx, a, loc, ob)
    p.top["extra"].extend(ctx["extra"])


# -- SSL, garp_group, linkbeat_interfaces, track_group, bfd_instance (keepalived 2.2.7 ranges, found with -t) --
SSL: Table = {k: h_str(k) for k in ("password", "ca", "certificate", "key")}


def _top_ssl(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob:
        raise ConfigError("expected 'SSL { ... }'")
    ctx = p.block(SSL, {"location": loc}, loc)
    if p.top["SSL"]:  # keepalived has one SSL context: a second block replaces the first, with an error
        p.top["SSL"][0] = ctx
        raise ConfigError("SSL context already specified - replacing")
    p.top["SSL"].append(ctx)


def _gg_interface(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    need(a, 1, "an interface name")
    c.setdefault("interfaces", []).append((a[0], loc))


def _gg_interfaces(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob:
        raise ConfigError("expected an 'interfaces { IFNAME ... }' block")
    out = c.setdefault("interfaces", [])
    before = len(out)
    for words, wloc in p.r.words_of(loc):
        out.extend((w, wloc) for w in words)
    if len(out) == before:
        raise ConfigError("empty garp_group interfaces block")


def _h_decimal(fld: str, lo: float, hi: float, digits: int, unit: str) -> Handler:
    """keepalived's read_decimal_unsigned: plain digits with at most ``digits`` decimals (no sign, no exponent)."""
    expected = f"expected a number of {unit} in [{lo:.10g}, {hi:.10g}] with at most {digits} decimals"

    def h(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        need(a, 1, expected)
        t = a[0]
        whole, dot, frac = t.partition(".")
        if not t.isascii() or not (whole + frac).isdigit():
            raise ConfigError(f"invalid number {t!r}: {expected}")
        if dot and len(frac) > digits:
            raise ConfigError(f"number {t!r} has too many decimal places: {expected}")
        v = float(t)
        if not lo <= v <= hi:
            raise ConfigError(f"number {t!r} outside range: {expected}")
        c[fld] = round(v, digits)
    return h


GARP_GROUP: Table = {
    "garp_interval": _h_decimal("garp_interval", 0, 2147.483647, 6, "seconds"),
    "gna_interval": _h_decimal("gna_interval", 0, 2147.483647, 6, "seconds"),
    "interface": _gg_interface,
    "interfaces": _gg_interfaces,
}


def _top_garp_group(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    if not ob:
        raise ConfigError("expected 'garp_group { ... }'")
    p.top["garp_group"].append(p.block(GARP_GROUP, {"location": loc}, loc))


_LINKBEAT_METHODS = {"MII": "MII", "ETHTOOL": "ETHTOOL", "IOCTL": "IOCTL"}


def _top_linkbeat(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
    from .model import LinkbeatInterface

    if not ob:
        raise ConfigError("expected 'linkbeat_interfaces { IFNAME [MII|ETHTOOL|IOCTL] ... }'")
    out = p.top["linkbeat_interfaces"]
    for words, wloc in p.r.words_of(loc):
        method = None
        if len(words) > 1:
            if words[1] in _LINKBEAT_METHODS and len(words) == 2:
                method = words[1]
            else:  # keepalived reports it and keeps the interface with the default probing
                p.diags.error(wloc, f"extra characters {' '.join(words[1:])} in linkbeat interface "
                                    "(expected IFNAME [MII|ETHTOOL|IOCTL])")
        out.append(LinkbeatInterface(words[0], wloc, method))


TRACK_GROUP: Table = {"group": _word_list("group")}

BFD_INSTANCE: Table = {
    "neighbor_ip": h_ip("neighbor_ip"),
    "source_ip": h_ip("source_ip"),
    "min_rx": _h_decimal("min_rx", 1, 4294967, 3, "milliseconds"),
    "min_tx": _h_decimal("min_tx", 1, 4294967, 3, "milliseconds"),
    "idle_tx": _h_decimal("idle_tx", 1000, 4294967, 3, "milliseconds"),
    "multiplier": h_int("multiplier", 1, 255),
    "passive": h_const("passive", True),
    "ttl": h_int("ttl", 1, 255),
    "hoplimit": h_int("ttl", 1, 255),
    "max_hops": h_int("max_hops", -1, 255),
    "weight": h_int("weight", -253, 253),
    "vrrp": h_const("vrrp", True),
    "checker": h_const("checker", True),
}


TOP: Table = {
    "global_defs": _top_global,
    "vrrp_script": _named("vrrp_script", VRRP_SCRIPT, "NAME"),
    "vrrp_track_process": _named("vrrp_track_process", TRACK_PROCESS, "NAME"),
    "track_file": _named("track_file", TRACK_FILE, "NAME"),
    "vrrp_track_file": _named("track_file", TRACK_FILE, "NAME"),
    "vrrp_sync_group": _named("vrrp_sync_group", SYNC_GROUP, "NAME"),
    "vrrp_instance": _named("vrrp_instance", INSTANCE, "NAME"),
    "virtual_server_group": _top_vsg,
    "virtual_server": _top_vs,
    "static_ipaddress": _top_static("static_ipaddress"),
    "static_routes": _top_static("static_routes"),
    "static_rules": _top_static("static_rules"),
    "SSL": _top_ssl,
    "garp_group": _top_garp_group,
    "linkbeat_interfaces": _top_linkbeat,
    "track_group": _named("track_group", TRACK_GROUP, "NAME"),
    "bfd_instance": _named("bfd_instance", BFD_INSTANCE, "NAME"),
}
for _k in K.TOP_EXTRA:
    TOP.setdefault(_k, _top_extra)


def _newer(h: Handler) -> Handler:
    def w(p: Parser, c: Ctx, a: list[str], loc: Location, ob: bool) -> None:
        p.diags.warning(loc, f"Unknown keyword '{p.kw}' for keepalived 2.2.7 (newer or misplaced keyword) - kept")
        h(p, c, a, loc, ob)
    return w


def _mark_newer() -> None:
    tables = {"global_defs": GLOBAL, "vrrp_instance": INSTANCE, "HTTP_GET": HTTP_CHECK, "FILE_CHECK": FILE_CHECK,
              "BFD_CHECK": BFD_CHECK, "vrrp_sync_group": SYNC_GROUP}
    for block, kws in K.NOT_IN_2_2_7.items():
        table = tables[block]
        for kw in kws:
            if kw in table:
                table[kw] = _newer(table[kw])


_mark_newer()
