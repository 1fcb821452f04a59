"""The dump files keepalived 2.2.7 writes on signals, in its formats: text ``keepalived.data`` (SIGUSR1), text
``keepalived.stats`` (SIGUSR2 and STATS_CLEAR) and ``keepalived.json`` (SIGRTMIN+2), and one parser for them.

Why keepalived's formats: monitoring tools (the Prometheus exporters, collectd/ncollector plugins, home-made
scripts) read these files by their layout; a drop-in must write what they parse.  The layouts follow
keepalived's ``vrrp_print.c`` (stats), ``vrrp_json.c`` (json) and ``vrrp_data.c`` (data); the formatters are
pure functions of a ``DaemonSnapshot``.  The data dump carries the lines we have values for; keepalived's
internals (file descriptors, read timeouts, socket pools, netlink buffer sizes, SNMP/DBus settings, process
priorities) are left out, and its parser-visible structure (sections, ``key = value`` lines, indented lists) is
the same, so ``parse_data`` reads both.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pykeepalived.daemon.files import DUMP_FILE_MODE, write_atomic
from pykeepalived.daemon.snapshot import (
    IFF_BROADCAST,
    IFF_LOOPBACK,
    IFF_MULTICAST,
    IFF_NOARP,
    IFF_POINTOPOINT,
    IFF_RUNNING,
    IFF_UP,
    DaemonSnapshot,
    GlobalSnapshot,
    InstanceSnapshot,
    TrackedSnapshot,
)

DATA_FILE = "keepalived.data"
STATS_FILE = "keepalived.stats"
JSON_FILE = "keepalived.json"

# --------------------------------------------------------------------------------------------------- stats

#: keepalived.stats: (text label, indentation, JSON key or None for a heading), in vrrp_print_stats order.
_STATS_LINES: tuple[tuple[str, int, str | None], ...] = (
    ("Advertisements:", 2, None),
    ("Received", 4, "advert_rcvd"),
    ("Sent", 4, "advert_sent"),
    ("Became master", 2, "become_master"),
    ("Released master", 2, "release_master"),
    ("Packet Errors:", 2, None),
    ("Length", 4, "packet_len_err"),
    ("TTL", 4, "ip_ttl_err"),
    ("Invalid Type", 4, "invalid_type_rcvd"),
    ("Advertisement Interval", 4, "advert_interval_err"),
    ("Address List", 4, "addr_list_err"),
    ("Authentication Errors:", 2, None),
    ("Invalid Type", 4, "invalid_authtype"),
    ("Type Mismatch", 4, "authtype_mismatch"),
    ("Failure", 4, "auth_failure"),
    ("Priority Zero:", 2, None),
    ("Received", 4, "pri_zero_rcvd"),
    ("Sent", 4, "pri_zero_sent"),
)


def format_stats(snap: DaemonSnapshot) -> str:
    """``/tmp/keepalived.stats`` as keepalived's vrrp_print_stats writes it."""
    out: list[str] = []
    for inst in snap.instances:
        counters = inst.counters.as_keepalived()
        out.append(f"VRRP Instance: {inst.name}")
        for label, indent, key in _STATS_LINES:
            out.append(" " * indent + (label if key is None else f"{label}: {counters[key]}"))
    return "".join(line + "\n" for line in out)


class DumpParseError(ValueError):
    """A dump file is not in keepalived's format; the message names the file (when given) and the line."""


def parse_stats(text: str, *, source: str = "keepalived.stats") -> dict[str, dict[str, int]]:
    """Instance name -> counters under keepalived's JSON names, from a keepalived.stats text (ours or keepalived's)."""
    result: dict[str, dict[str, int]] = {}
    current: dict[str, int] | None = None
    heading: str | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if raw.startswith("VRRP Instance: "):
            current = result.setdefault(raw[len("VRRP Instance: "):].strip(), {})
            heading = None
            continue
        if current is None:
            raise DumpParseError(f"{source}:{lineno}: expected 'VRRP Instance: NAME', got {raw.strip()!r}")
        indent = len(raw) - len(raw.lstrip(" "))
        label, sep, value = raw.strip().partition(": ")
        if not sep and label.endswith(":"):
            heading = label
            continue
        key = _stats_key(heading if indent == 4 else None, label)
        if key is None or not value.strip().isdigit():
            raise DumpParseError(f"{source}:{lineno}: unexpected stats line {raw.strip()!r}")
        current[key] = int(value)
    return result


def _stats_key(heading: str | None, label: str) -> str | None:
    current_heading: str | None = None
    for text, indent, key in _STATS_LINES:
        if key is None:
            current_heading = text
            continue
        if text == label and (current_heading if indent == 4 else None) == heading:
            return key
    return None


# ---------------------------------------------------------------------------------------------------- json


def _g(value: float) -> str:
    """C's ``%g`` (keepalived's jsonw_float_field)."""
    return f"{value:g}"


def _json_data(inst: InstanceSnapshot) -> list[tuple[str, object]]:
    """The ``data`` object of vrrp_json_data_dump, field for field and in its order."""
    fields: list[tuple[str, object]] = [
        ("iname", inst.name),
        ("dont_track_primary", 0),
        ("skip_check_adv_addr", 0),
        ("strict_mode", int(inst.strict_mode)),
        ("vmac_ifname", inst.vmac_ifname),
        ("ifp_ifname", inst.interface),
        ("master_priority", inst.master_priority),
        ("last_transition", _Raw(f"{inst.last_transition:f}")),
        ("garp_delay", _Raw(_g(inst.garp_delay))),
        ("garp_refresh", int(inst.garp_refresh)),
        ("garp_rep", inst.garp_rep),
        ("garp_refresh_rep", inst.garp_refresh_rep),
        ("garp_lower_prio_delay", int(inst.garp_lower_prio_delay)),
        ("garp_lower_prio_rep", inst.garp_lower_prio_rep),
        ("lower_prio_no_advert", int(inst.lower_prio_no_advert)),
        ("higher_prio_send_advert", int(inst.higher_prio_send_advert)),
        ("vrid", inst.vrid),
        ("base_priority", inst.base_priority),
        ("effective_priority", inst.effective_priority),
        ("vipset", any(v.is_set for v in inst.vips)),
        ("promote_secondaries", inst.promote_secondaries),
        ("adver_int", _Raw(_g(inst.advert_int))),
        ("master_adver_int", _Raw(_g(inst.master_adver_int))),
        ("accept", int(inst.accept)),
        ("nopreempt", inst.nopreempt),
        ("preempt_delay", int(inst.preempt_delay)),
        ("state", inst.state_number),
        ("wantstate", inst.state_number),
        ("version", inst.version),
        ("smtp_alert", inst.smtp_alert),
        ("notify_deleted", False),
    ]
    fields.extend(inst.scripts)
    if inst.vips:
        fields.append(("vips", [v.keepalived_text() for v in inst.vips]))
    if inst.evips:
        fields.append(("evips", [v.keepalived_text() for v in inst.evips]))
    if inst.track_interfaces:
        fields.append(("track_ifp", [t.name for t in inst.track_interfaces]))
    if inst.track_scripts:
        fields.append(("track_script", [t.command or t.name for t in inst.track_scripts]))
    fields.append(("auth_type", inst.auth_type))
    if inst.auth_type:
        fields.append(("auth_data", inst.auth_data))
    return fields


@dataclass(frozen=True)
class _Raw:
    """A number already formatted the way keepalived's C printf formats it."""

    text: str


def _encode(value: object) -> str:
    # keepalived's json_writer escapes "/" as "\/" (valid JSON; parsers read it as "/").
    if isinstance(value, _Raw):
        return value.text
    if isinstance(value, list):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value).replace("/", "\\/")


def _object(pairs: Iterable[tuple[str, object]]) -> str:
    return "{" + ",".join(f"{_encode(k)}:{_encode(v)}" for k, v in pairs) + "}"


def format_json(snap: DaemonSnapshot) -> str:
    """``/tmp/keepalived.json``: a list of ``{"data": {...}, "stats": {...}}``, one per instance, compact, as
    keepalived's vrrp_print_json writes it (json_writer ends it with a newline)."""
    items = [
        "{" + f'"data":{_object(_json_data(i))},"stats":{_object(i.counters.as_keepalived().items())}' + "}"
        for i in snap.instances
    ]
    return "[" + ",".join(items) + "]\n"


def parse_json(text: str, *, source: str = "keepalived.json") -> list[dict[str, dict[str, object]]]:
    """The list of ``{"data", "stats"}`` objects of a keepalived.json (ours or keepalived's)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DumpParseError(f"{source}:{exc.lineno}: not JSON: {exc.msg}") from None
    if not isinstance(doc, list) or not all(
        isinstance(e, dict) and isinstance(e.get("data"), dict) and isinstance(e.get("stats"), dict) for e in doc
    ):
        raise DumpParseError(f"{source}: expected a list of {{'data': {{...}}, 'stats': {{...}}}} objects")
    return doc


# ---------------------------------------------------------------------------------------------------- data


def _ctime_us(t: float) -> str:
    """keepalived's ctime_us_r: ``Fri Dec  4 04:15:02.806660 2026`` (local time)."""
    sec, usec = divmod(round(t * 1_000_000), 1_000_000)
    lt = time.localtime(sec)
    return f"{time.strftime('%a %b %e %H:%M:%S', lt)}.{usec:06d} {lt.tm_year}"


def _onoff(flag: bool, yes: str = "true", no: str = "false") -> str:
    return yes if flag else no


def _global_lines(g: GlobalSnapshot) -> list[str]:
    def unset(v: bool | None) -> str:
        return "unset" if v is None else _onoff(v, "on", "off")

    lines = [
        "------< Global definitions >------",
        " Network namespace = (default)",
    ]
    if g.router_id:
        lines.append(f" Router ID = {g.router_id}")
    if g.smtp_server:
        lines += [f" Smtp server = {g.smtp_server}", f" Smtp server port = {g.smtp_port}"]
    lines += [
        f" Smtp HELO name = {g.smtp_helo_name or os.uname().nodename}",
        f" Smtp server connection timeout = {g.smtp_connect_timeout}",
    ]
    if g.email_from:
        lines += [f" Email notification from = {g.email_from}", " Email notification to:"]
        lines += [f"   {addr}" for addr in g.email_to]
    lines += [
        f" Default smtp_alert = {unset(g.smtp_alert)}",
        f" Default smtp_alert_vrrp = {unset(g.smtp_alert_vrrp)}",
        f" Default smtp_alert_checker = {unset(g.smtp_alert_checker)}",
        f" Dynamic interfaces = {_onoff(g.dynamic_interfaces)}",
        f" Default interface = {g.default_interface}",
        f" LVS flush = {_onoff(g.lvs_flush)}",
        f" VRRP IPv4 mcast group = {g.mcast_group4}",
        f" VRRP IPv6 mcast group = {g.mcast_group6}",
        f" Gratuitous ARP delay = {int(g.garp_delay)}",
        f" Gratuitous ARP repeat = {g.garp_rep}",
        f" Gratuitous ARP refresh timer = {int(g.garp_refresh)}",
        f" Gratuitous ARP refresh repeat = {g.garp_refresh_rep}",
        f" Gratuitous ARP lower priority delay = {int(g.garp_lower_prio_delay)}",
        f" Gratuitous ARP lower priority repeat = {g.garp_lower_prio_rep}",
        f" Num adverts before down = {g.down_timer_adverts}",
        f" Send advert after receive lower priority advert = {_onoff(not g.lower_prio_no_advert)}",
        f" Send advert after receive higher priority advert = {_onoff(g.higher_prio_send_advert)}",
        f" Gratuitous ARP interval = {g.garp_interval:f}",
        f" Gratuitous NA interval = {g.gna_interval:f}",
        f" VRRP default protocol version = {g.vrrp_version}",
        f" VRRP check unicast_src = {_onoff(g.check_unicast_src)}",
        f" VRRP skip check advert addresses = {_onoff(g.skip_check_adv_addr)}",
        f" VRRP strict mode = {_onoff(g.strict)}",
        f" Max auto priority = {g.max_auto_priority}",
        f" Script security {_onoff(g.script_security, 'enabled', 'disabled')}",
    ]
    return lines


def _tracked(t: TrackedSnapshot) -> str:
    return f"     {t.name} weight {t.weight}{' reverse' if t.reverse else ''}"


def _instance_lines(i: InstanceSnapshot, g: GlobalSnapshot) -> list[str]:
    lines = [f" VRRP Instance = {i.name}", f"   VRRP Version = {i.version}"]
    if i.sync_group:
        lines.append(f"   Sync group = {i.sync_group}")
    if i.family == 6:
        lines.append("   Using Native IPv6")
    lines.append(f"   State = {i.state.value}")
    backup = i.state.value == "BACKUP"
    if backup:
        lines += [f"   Master router = {i.master_router or '(none)'}", f"   Master priority = {i.master_priority}"]
        if i.version == 3:
            lines.append(f"   Master advert int = {i.master_adver_int:.2f} sec")
    # keepalived prints "Flags:" whenever any bit of vrrp->flags is set (nopreempt and promote_secondaries are
    # bits there too) and lists only the unicast ones.
    if i.unicast_peers or i.nopreempt or i.promote_secondaries:
        lines.append("   Flags:")
        if i.unicast_peers:
            lines.append("     Using unicast")
    else:
        lines.append("   Flags: none")
    lines += [
        f"   Wantstate = {i.state.value}",
        f"   Last transition = {i.last_transition:.6f} ({_ctime_us(i.last_transition)})",
        f"   Interface = {i.interface}",
    ]
    if i.strict_mode:
        lines.append("   Enforcing strict VRRP compliance")
    lines.append(f"   Using src_ip = {i.source_ip or '(none)'}")
    if not i.unicast_peers and i.family == 4:
        lines.append(f"   Multicast address {g.mcast_group4}")
    elif not i.unicast_peers:
        lines.append(f"   Multicast address {g.mcast_group6}, ifindex {i.ifindex}")
    lines += [
        f"   Gratuitous ARP delay = {int(i.garp_delay)}",
        f"   Gratuitous ARP repeat = {i.garp_rep}",
        f"   Gratuitous ARP refresh = {int(i.garp_refresh)}",
        f"   Gratuitous ARP refresh repeat = {i.garp_refresh_rep}",
        f"   Gratuitous ARP lower priority delay = {int(i.garp_lower_prio_delay)}",
        f"   Gratuitous ARP lower priority repeat = {i.garp_lower_prio_rep}",
        f"   Down timer adverts = {i.down_timer_adverts}",
        f"   Send advert after receive lower priority advert = {_onoff(not i.lower_prio_no_advert)}",
        f"   Send advert after receive higher priority advert = {_onoff(i.higher_prio_send_advert)}",
        f"   Virtual Router ID = {i.vrid}",
        f"   Priority = {i.base_priority}",
        f"   Effective priority = {i.effective_priority}",
        f"   Total priority = {i.effective_priority}",
    ]
    if i.version == 2:
        lines.append(f"   Advert interval = {round(i.advert_int)} sec")
    else:
        lines.append(f"   Advert interval = {round(i.advert_int * 1000)} milli-sec")
    if backup and i.version == 3:
        lines.append(f"   Master advert interval = {round(i.master_adver_int * 1000)} milli-sec")
    lines += [
        f"   Accept = {_onoff(i.accept, 'enabled', 'disabled')}",
        f"   Preempt = {_onoff(not i.nopreempt, 'enabled', 'disabled')}",
    ]
    if i.preempt_delay:
        lines.append(f"   Preempt delay = {_g(i.preempt_delay)} secs")
    lines.append(f"   Promote_secondaries = {_onoff(i.promote_secondaries, 'enabled', 'disabled')}")
    if i.auth_type:
        lines.append(f"   Authentication type = {'IPSEC_AH' if i.auth_type == 2 else 'SIMPLE_PASSWORD'}")
        if i.auth_type != 2:
            lines.append(f"   Password = {i.auth_data}")
    elif i.version == 2:
        lines.append("   Authentication type = none")
    if i.vips:
        lines.append(f"   Virtual IP ({len(i.vips)}):")
        lines += [f"     {v.keepalived_text()}" for v in i.vips]
    if i.evips:
        lines.append("   Virtual IP Excluded :")
        lines += [f"     {v.keepalived_text()}" for v in i.evips]
    if i.unicast_peers:
        lines.append("   Unicast Peer :")
        lines += [f"     {p}" for p in i.unicast_peers]
    if i.track_interfaces:
        lines.append("   Tracked interfaces :")
        lines += [_tracked(t) for t in i.track_interfaces]
    if i.track_scripts:
        lines.append("   Tracked scripts :")
        lines += [_tracked(t) for t in i.track_scripts]
    lines.append(f"   Using smtp notification = {_onoff(i.smtp_alert, 'yes', 'no')}")
    return lines


def _link_state(flags: int) -> str:
    """keepalived's dump_if "State" text of a link's IFF_* bits."""
    text = f"{'' if flags & IFF_UP else 'not '}UP, {'' if flags & IFF_RUNNING else 'not '}RUNNING"
    for bit, on_set, words in ((IFF_BROADCAST, False, "no broadcast"), (IFF_LOOPBACK, True, "loopback"),
                               (IFF_POINTOPOINT, True, "point to point"), (IFF_NOARP, True, "no arp"),
                               (IFF_MULTICAST, False, "no multicast")):
        if bool(flags & bit) == on_set:
            text += f", {words}"
    return text


def format_data(snap: DaemonSnapshot) -> str:
    """``/tmp/keepalived.data`` (SIGUSR1) in keepalived's layout: global definitions, VRRP topology, sync groups
    and interfaces."""
    lines = _global_lines(snap.globals)
    lines.append("------< VRRP Topology >------")
    for inst in snap.instances:
        lines += _instance_lines(inst, snap.globals)
    if snap.sync_groups:
        lines.append("------< VRRP Sync groups >------")
        for g in snap.sync_groups:
            lines += [f" VRRP Sync Group = {g.name}, {g.state.value}", "   VRRP member instances :"]
            lines += [f"     {m}" for m in g.members]
            lines.append(f"   Using smtp notification = {_onoff(g.smtp_alert, 'yes', 'no')}")
    if snap.interfaces:
        lines.append("------< Interfaces >------")
        for ifc in snap.interfaces:
            lines += [
                f" Name = {ifc.name}",
                f"   index = {ifc.index}",
                f"   IPv4 address = {ifc.ipv4 or '(none)'}",
                f"   IPv6 address = {ifc.ipv6 or '(none)'}",
            ]
            if ifc.mac:
                lines.append(f"   MAC = {ifc.mac}")
            if ifc.mac_broadcast:
                lines.append(f"   MAC broadcast = {ifc.mac_broadcast}")
            lines += [f"   State = {_link_state(ifc.flags)}", f"   MTU = {ifc.mtu}"]
            if ifc.tracking:
                lines.append("   Tracking VRRP instances :")
                lines += [f"     {name}, weight 0" for name in ifc.tracking]
    return "".join(line + "\n" for line in lines)


@dataclass
class Node:
    """One line of a data dump with the more-indented lines under it."""

    text: str
    children: list[Node] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.text.partition(" = ")[0].rstrip(" :")

    @property
    def value(self) -> str:
        return self.text.partition(" = ")[2]

    def fields(self) -> dict[str, str]:
        """The ``key = value`` children (a heading child maps to its list lines joined by newlines)."""
        out: dict[str, str] = {}
        for c in self.children:
            out[c.key] = c.value if " = " in c.text else "\n".join(g.text for g in c.children)
        return out


def parse_data(text: str, *, source: str = "keepalived.data") -> dict[str, list[Node]]:
    """Section title ("Global definitions", "VRRP Topology", ...) -> its top-level lines as a tree by
    indentation; reads keepalived's data dump and ours alike."""
    sections: dict[str, list[Node]] = {}
    current: list[Node] | None = None
    stack: list[tuple[int, Node]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        if raw.startswith("------<") and raw.rstrip().endswith(">------"):
            current = sections.setdefault(raw.strip()[7:-7].strip(), [])
            stack = []
            continue
        if current is None:
            raise DumpParseError(f"{source}:{lineno}: text before the first '------< section >------' line")
        indent = len(raw) - len(raw.lstrip(" "))
        node = Node(raw.strip())
        while stack and stack[-1][0] >= indent:
            stack.pop()
        (stack[-1][1].children if stack else current).append(node)
        stack.append((indent, node))
    return sections


def data_instances(sections: dict[str, list[Node]]) -> dict[str, dict[str, str]]:
    """Instance name -> its ``key = value`` fields, from a parsed data dump."""
    return {n.value: n.fields() for n in sections.get("VRRP Topology", []) if n.key == "VRRP Instance"}


# --------------------------------------------------------------------------------------------------- write


#: The other processes' data dumps (written by the checker and the parent on SIGUSR1; formats not covered here).
CHECK_DATA_FILE = "keepalived_check.data"
PARENT_DATA_FILE = "keepalived_parent.data"
_DATA_FILES = frozenset({DATA_FILE, CHECK_DATA_FILE, PARENT_DATA_FILE})


def tmp_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where keepalived writes its dumps: ``$TMPDIR`` when it is an absolute path, else /tmp (set_tmp_dir)."""
    value = (os.environ if environ is None else environ).get("TMPDIR", "")
    return Path(value) if value.startswith("/") else Path("/tmp")


def dump_path(directory: str | os.PathLike[str], name: str, *, netns: str | None = None,
              instance: str | None = None, use_instance: bool = False) -> Path:
    """The path of dump ``name``.  With ``data_use_instance`` (global_defs) and ``-s NETNS`` / ``-i INSTANCE``,
    keepalived puts them into the *data* files' names (``keepalived.NETNS_INSTANCE.data``: open_dump_file);
    the stats and JSON files keep their plain names."""
    if use_instance and name in _DATA_FILES and (netns or instance):
        stem, _, ext = name.rpartition(".")
        name = f"{stem}.{netns or ''}{'_' if netns and instance else ''}{instance or ''}.{ext}"
    return Path(directory) / name


def write_dump(directory: str | os.PathLike[str], name: str, snap: DaemonSnapshot, *, netns: str | None = None,
               instance: str | None = None, use_instance: bool = False) -> Path:
    """Write one VRRP dump file (``keepalived.data``/``.stats``/``.json``) with keepalived's mode 0600,
    atomically and never through a planted link; returns its path.  OSError (naming the path) on failure."""
    formatter = {DATA_FILE: format_data, STATS_FILE: format_stats, JSON_FILE: format_json}[name]
    path = dump_path(directory, name, netns=netns, instance=instance, use_instance=use_instance)
    write_atomic(path, formatter(snap), mode=DUMP_FILE_MODE)
    return path


def signal_log_line(name: str, pid: int, *, clearing: bool = False) -> str:
    """What the VRRP process logs when a dump signal arrives (vrrp_daemon.c sigusr1/sigusr2/sigjson_vrrp)."""
    if name == DATA_FILE:
        return f"Printing VRRP data for process({pid}) on signal"
    if name == STATS_FILE:
        return f"Printing {'and clearing ' if clearing else ''}VRRP stats for process({pid}) on signal"
    return f"Printing VRRP as json for process({pid}) on signal"
