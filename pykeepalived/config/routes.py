"""``ip route`` / ``ip rule`` lines (``virtual_routes``, ``virtual_rules``, ``static_routes``, ``static_rules``):
the one grammar that turns them into the model's typed :class:`~.model.Route` / :class:`~.model.Rule`.

``-t`` reports what keepalived 2.2.7's ``vrrp_iproute.c`` / ``vrrp_iprule.c`` report, with keepalived's
messages; an entry keepalived drops (a destination or rule address that is not one) is left out of the
model, as keepalived frees it.  Words keepalived accepts that the model does not type (``proto``, ``mtu``,
``nexthop``, ``table main``, ...) are kept as written in ``options``: the daemon refuses an entry that has any,
because it could not honour them (``pykeepalived.settings``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .errors import ConfigError, Diagnostics, Location
from .model import IPAddress, IPNetwork, Route, Rule
from .values import to_ip, to_ip_prefix

__all__ = ["RawEntry", "parse_route", "parse_rule", "route_interfaces"]

_ROUTE_TYPES = frozenset({"blackhole", "unreachable", "prohibit", "throw", "local", "broadcast", "unicast",
                          "anycast", "multicast", "nat"})
_ROUTE_OPTS_WITH_ARG = frozenset({"src", "via", "gw", "dev", "table", "metric", "scope", "proto", "realms", "mtu",
                                  "advmss", "rtt", "rttvar", "reordering", "window", "cwnd", "initcwnd",
                                  "initrwnd", "ssthresh", "features", "quickack", "congctl", "pref", "hoplimit",
                                  "tos", "expires", "nexthop", "encap", "preference", "priority"})
#: route options the model types (``gw`` is keepalived's deprecated spelling of ``via``)
_ROUTE_TYPED = frozenset({"via", "gw", "dev", "src", "table", "metric", "scope"})
#: rule selectors the model types, with keepalived's synonyms
_RULE_KEYS = {"from": "from", "to": "to", "iif": "iif", "oif": "oif", "fwmark": "fwmark", "table": "table",
              "lookup": "table", "priority": "priority", "preference": "priority", "pref": "priority",
              "prio": "priority"}


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One line of a routes/rules block as the parser read it, before :func:`parse_route` / :func:`parse_rule`."""

    words: tuple[str, ...]
    location: Location


def _number(text: str) -> int | None:
    """A plain decimal number (keepalived's tables, metrics and priorities), else None."""
    if text.isascii() and len(text) < 64 and (text.isdigit() or (text[:1] == "-" and text[1:].isdigit())):
        return int(text)
    return None


def parse_route(entry: RawEntry, family: int, diags: Diagnostics) -> Route | None:
    """The typed route of ``entry`` (None when keepalived would drop it); keepalived's ``-t`` messages go to
    ``diags``.  ``family`` (4 or 6) places ``default`` when no address in the line says which family it is."""
    words, loc = entry.words, entry.location
    # The destination is the first word that is neither a route type nor an option (with its value):
    # keepalived accepts options before it ("src 192.168.100.1 192.168.209.0/24 via ...").
    k = 0
    while k < len(words) and (words[k] in _ROUTE_TYPES or words[k] in _ROUTE_OPTS_WITH_ARG):
        k += 2 if words[k] in _ROUTE_OPTS_WITH_ARG else 1
    valid = True
    dst: IPNetwork | None = None
    if k < len(words) and words[k] != "default":
        try:
            ip, plen = to_ip_prefix(words[k], "route destination")
            dst = ipaddress.ip_network(f"{ip}/{plen}", strict=False)
        except ConfigError as e:
            diags.error(loc, f"Invalid route destination: {e.message}")
            valid = False
    addresses: dict[str, IPAddress] = {}
    for j, w in enumerate(words[:-1]):
        if w in ("via", "gw", "src"):
            nxt = words[j + 1]
            if nxt in ("inet", "inet6") and j + 2 < len(words):
                nxt = words[j + 2]
            try:
                addresses.setdefault("src" if w == "src" else "via", to_ip(nxt))
            except ConfigError as e:
                diags.error(loc, f"{w}: {e.message}")
                valid = False
    if "gw" in words:
        diags.error(loc, '"gw" for routes is deprecated. Please use "via"')
    if "or" in words:
        diags.error(loc, '"or" for routes is deprecated. Please use "nexthop"')
    if "dev" not in words and "no_track" not in words and "table" not in words:
        diags.error(loc, f"Warning - cannot track route {words[k] if k < len(words) else ''} with no interface "
                    "specified, not tracking")
    if not valid or k >= len(words):
        return None
    # the typed fields; everything else stays as written in ``options``
    rtype = "unicast"
    typed: dict[str, str] = {}
    options: list[str] = []
    j = 0
    while j < len(words):
        w = words[j]
        if j == k:
            j += 1
        elif w in _ROUTE_TYPES and j < k:
            rtype = w
            j += 1
        elif w in _ROUTE_OPTS_WITH_ARG and j + 1 < len(words):
            value = words[j + 1]
            key = "via" if w == "gw" else w
            if w in ("via", "gw", "src") and value in ("inet", "inet6") and j + 2 < len(words):
                j += 1  # the family word before the address
                value = words[j + 1]
            numeric = key not in ("table", "metric") or _number(value) is not None
            if key in _ROUTE_TYPED and key not in typed and numeric:
                typed[key] = value
            else:
                options += [w, value]
            j += 2
        else:
            options.append(w)
            j += 1
    if dst is None:  # "default": the family of the gateway / source, else the instance's
        fam = next((a.version for a in addresses.values()), family)
        dst = ipaddress.ip_network("0.0.0.0/0" if fam == 4 else "::/0")
    table = typed.get("table")
    metric = typed.get("metric")
    return Route(
        words=words, location=loc, dst=dst, type=rtype, via=addresses.get("via") if "via" in typed else None,
        dev=typed.get("dev"), src=addresses.get("src") if "src" in typed else None,
        table=_number(table) if table is not None else None, metric=_number(metric) if metric is not None else None,
        scope=typed.get("scope"), options=tuple(options),
    )


def parse_rule(entry: RawEntry, family: int, diags: Diagnostics) -> Rule | None:
    """The typed rule of ``entry`` (None when keepalived would drop it); keepalived's ``-t`` messages go to
    ``diags``.  ``family`` is the rule's family when neither ``from`` nor ``to`` gives one."""
    words, loc = entry.words, entry.location
    valid = True
    nets: dict[str, IPNetwork] = {}
    for k, w in enumerate(words[:-1]):
        if w in ("from", "to") and words[k + 1] != "all":
            try:
                ip, plen = to_ip_prefix(words[k + 1])
                nets.setdefault(w, ipaddress.ip_network(f"{ip}/{plen}", strict=False))
            except ConfigError:
                diags.error(loc, f"Invalid rule {w} address {words[k + 1]}")
                valid = False
    # keepalived 2.2.7 refuses table 0 but takes -1 and numbers past 2^32-1 (it wraps them): `-t` keeps its
    # verdict, and the daemon refuses a table the kernel cannot hold, naming file:line.
    for k, w in enumerate(words[:-1]):
        if w in ("table", "lookup") and words[k + 1].isdigit() and _number(words[k + 1]) == 0:
            diags.error(loc, "Table 0 is not valid")
    if not any(w in ("priority", "preference", "pref", "prio") for w in words):
        diags.error(loc, "Rule has no preference specified - keepalived picks one. This is probably not what "
                    "you want.")
    if not valid:
        return None
    typed: dict[str, str] = {}
    options: list[str] = []
    j = 0
    while j < len(words):
        key = _RULE_KEYS.get(words[j])
        if key is None or j + 1 >= len(words) or key in typed:
            options.append(words[j])
            j += 1
            continue
        value = words[j + 1]
        ok = True
        if key in ("table", "priority"):
            ok = _number(value) is not None
        elif key == "fwmark":
            try:
                int(value, 0)
            except ValueError:
                ok = False
        if ok:
            typed[key] = value
        else:
            options += [words[j], value]
        j += 2
    fam = next((n.version for n in nets.values()), family)
    return Rule(
        words=words, location=loc, family=fam, table=int(typed["table"]) if "table" in typed else None,
        src=nets.get("from"), dst=nets.get("to"),
        priority=int(typed["priority"]) if "priority" in typed else None,
        iif=typed.get("iif"), oif=typed.get("oif"),
        fwmark=int(typed["fwmark"], 0) if "fwmark" in typed else None, options=tuple(options),
    )


def route_interfaces(words: tuple[str, ...], loc: Location, ifaces: frozenset[str], diags: Diagnostics) -> None:
    """keepalived's check that the interfaces a route or rule names exist."""
    for k, w in enumerate(words[:-1]):
        if w in ("dev", "oif", "iif") and words[k + 1] not in ifaces:
            diags.error(loc, f"WARNING - interface {words[k + 1]} for VROUTE nexthop doesn't exist")
