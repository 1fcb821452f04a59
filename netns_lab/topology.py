"""Declarative lab topology: hosts, switches, links, addresses, routes and sysctls as frozen data.

The model is pure data so that a scenario file, a test and the CLI can all describe a lab the same way, and so
that every mistake is caught *before* anything is created in the kernel: a half-built lab caused by a typo in
the tenth link is slower to debug than an error naming ``links[9].addresses[0]``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Host",
    "Link",
    "Route",
    "Switch",
    "Topology",
    "TopologyError",
    "port_ifname",
]

# Host and switch names become part of namespace names ("<prefix>-<name>") and of bridge port names, so keep
# them short, lower case and free of "." (the port-name scheme uses "." as its separator).
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
# Linux interface names: at most 15 bytes (IFNAMSIZ - 1), no "/", ":" or whitespace, not "." or "..".
_IFNAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
# Only network sysctls are per namespace; anything else would change the host, so it is refused.
_SYSCTL_RE = re.compile(r"^net[./][A-Za-z0-9_./-]+$")


class TopologyError(ValueError):
    """A topology description is invalid; the message names the topology and the offending field."""


def _fail(where: str, msg: str) -> TopologyError:
    return TopologyError(f"{where}: {msg}")


def _check_name(where: str, kind: str, name: object) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _fail(
            where,
            f"bad {kind} name {name!r}: use 1-20 characters a-z, 0-9 and '-', starting with a letter",
        )


def _check_ifname(where: str, ifname: object) -> None:
    if not isinstance(ifname, str) or not _IFNAME_RE.match(ifname) or ifname in (".", ".."):
        raise _fail(
            where,
            f"bad interface name {ifname!r}: use 1-15 characters A-Z, a-z, 0-9, '_', '.', '-'",
        )


def port_ifname(host: str, ifname: str, index: int) -> str:
    """Name of the bridge port (switch side of the veth) for ``host``'s ``ifname``, link number ``index``.

    ``"<host>.<ifname>"`` if it fits in 15 characters (readable in tcpdump, nft rules), else ``"p<index>"``.
    Host names hold no ".", so the long form is unique; the short form holds no ".", so the two never collide.
    """
    name = f"{host}.{ifname}"
    return name if len(name) <= 15 else f"p{index}"


@dataclass(frozen=True)
class Route:
    """A static route in a host: ``dst`` is a network ("10.1.0.0/16", "fd01::/64") or "default"."""

    dst: str
    gateway: str

    def validate(self, where: str) -> None:
        if not isinstance(self.gateway, str):
            raise _fail(f"{where}.gateway", f"expected an IP address string, got {self.gateway!r}")
        try:
            gw = ipaddress.ip_address(self.gateway)
        except ValueError:
            raise _fail(f"{where}.gateway", f"not an IP address: {self.gateway!r}") from None
        if not isinstance(self.dst, str):
            raise _fail(f"{where}.dst", f"expected a network or 'default', got {self.dst!r}")
        if self.dst == "default":
            return
        try:
            net = ipaddress.ip_network(self.dst, strict=True)
        except ValueError as exc:
            raise _fail(f"{where}.dst", f"not a network or 'default': {self.dst!r} ({exc})") from None
        if net.version != gw.version:
            raise _fail(where, f"dst {self.dst} and gateway {self.gateway} are different IP versions")

    @property
    def family(self) -> int:
        """4 or 6, taken from the gateway (a "default" route's family is its gateway's)."""
        return ipaddress.ip_address(self.gateway).version


@dataclass(frozen=True)
class Host:
    """A network namespace running processes.

    ``sysctls`` keys are ``net.*`` only (the per-namespace ones), written after the host's interfaces exist
    and before addresses are added, so per-interface keys work ("net.ipv4.conf.eth0.arp_ignore"); for an
    interface name with a dot use sysctl(8)'s slash form ("net/ipv4/conf/eth0.10/rp_filter").
    """

    name: str
    sysctls: dict[str, str] = field(default_factory=dict)
    routes: list[Route] = field(default_factory=list)


@dataclass(frozen=True)
class Switch:
    """A Linux bridge in a namespace of its own, with multicast snooping off (VRRP adverts must flood)."""

    name: str


@dataclass(frozen=True)
class Link:
    """A veth from ``host`` (as ``ifname``) to a port of ``switch``, with addresses like "10.0.0.11/24"."""

    host: str
    switch: str
    ifname: str = "eth0"
    addresses: list[str] = field(default_factory=list)


def _parse_address(where: str, addr: object) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    if not isinstance(addr, str) or "/" not in addr:
        raise _fail(
            where, f"bad address {addr!r}: expected address/prefixlen like '10.0.0.11/24' or 'fd00::11/64'"
        )
    try:
        iface = ipaddress.ip_interface(addr)
    except ValueError as exc:
        raise _fail(where, f"bad address {addr!r}: {exc}") from None
    if iface.ip.is_multicast or iface.ip.is_unspecified:
        raise _fail(where, f"bad address {addr!r}: multicast/unspecified address cannot be assigned")
    return iface


@dataclass(frozen=True)
class Topology:
    """A whole lab. Construction validates everything and raises :class:`TopologyError` naming the field."""

    name: str
    hosts: list[Host] = field(default_factory=list)
    switches: list[Switch] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.validate()

    # ---------------------------------------------------------------- validation
    def validate(self) -> None:
        """Check names, references, addresses, routes and sysctls; TopologyError on the first problem."""
        top = f"topology {self.name!r}"
        _check_name(f"{top}: name", "topology", self.name)
        seen: dict[str, str] = {}
        for i, h in enumerate(self.hosts):
            where = f"{top}: hosts[{i}]"
            if not isinstance(h, Host):
                raise _fail(where, f"expected a Host, got {type(h).__name__}")
            _check_name(f"{where}.name", "host", h.name)
            if h.name in seen:
                raise _fail(f"{where}.name", f"duplicate name {h.name!r} (already used by {seen[h.name]})")
            seen[h.name] = f"hosts[{i}]"
        for i, s in enumerate(self.switches):
            where = f"{top}: switches[{i}]"
            if not isinstance(s, Switch):
                raise _fail(where, f"expected a Switch, got {type(s).__name__}")
            _check_name(f"{where}.name", "switch", s.name)
            if s.name in seen:
                raise _fail(f"{where}.name", f"duplicate name {s.name!r} (already used by {seen[s.name]})")
            seen[s.name] = f"switches[{i}]"
        host_names = {h.name for h in self.hosts}
        switch_names = {s.name for s in self.switches}
        ifnames: dict[tuple[str, str], int] = {}
        assigned: dict[str, str] = {}
        for i, link in enumerate(self.links):
            where = f"{top}: links[{i}]"
            if not isinstance(link, Link):
                raise _fail(where, f"expected a Link, got {type(link).__name__}")
            if link.host not in host_names:
                raise _fail(f"{where}.host", f"unknown host {link.host!r} (hosts: {sorted(host_names)})")
            if link.switch not in switch_names:
                raise _fail(
                    f"{where}.switch", f"unknown switch {link.switch!r} (switches: {sorted(switch_names)})"
                )
            _check_ifname(f"{where}.ifname", link.ifname)
            if link.ifname == "lo":
                raise _fail(f"{where}.ifname", "'lo' is the loopback interface of every host")
            ifkey = (link.host, link.ifname)
            if ifkey in ifnames:
                raise _fail(
                    f"{where}.ifname",
                    f"host {link.host!r} already has {link.ifname!r} (links[{ifnames[ifkey]}])",
                )
            ifnames[ifkey] = i
            if isinstance(link.addresses, str) or not isinstance(link.addresses, Sequence):
                raise _fail(f"{where}.addresses", f"expected a list of addresses, got {link.addresses!r}")
            for j, addr in enumerate(link.addresses):
                iface = _parse_address(f"{where}.addresses[{j}]", addr)
                ip = str(iface.ip)
                if ip in assigned:
                    raise _fail(
                        f"{where}.addresses[{j}]", f"address {ip} is already assigned ({assigned[ip]})"
                    )
                assigned[ip] = f"links[{i}]"
        for i, h in enumerate(self.hosts):
            where = f"{top}: hosts[{i}] ({h.name})"
            if not isinstance(h.sysctls, Mapping):
                raise _fail(f"{where}.sysctls", f"expected a mapping of sysctl -> value, got {h.sysctls!r}")
            for key, value in h.sysctls.items():
                if not isinstance(key, str) or not _SYSCTL_RE.match(key) or ".." in key:
                    raise _fail(
                        f"{where}.sysctls",
                        f"bad sysctl {key!r}: only per-namespace 'net.*' sysctls can be set in a host",
                    )
                if not isinstance(value, str | int) or isinstance(value, bool):
                    raise _fail(
                        f"{where}.sysctls[{key!r}]", f"value must be a string or integer, got {value!r}"
                    )
            if isinstance(h.routes, str) or not isinstance(h.routes, Sequence):
                raise _fail(f"{where}.routes", f"expected a list of routes, got {h.routes!r}")
            for j, r in enumerate(h.routes):
                if not isinstance(r, Route):
                    raise _fail(f"{where}.routes[{j}]", f"expected a Route, got {type(r).__name__}")
                r.validate(f"{where}.routes[{j}]")

    # ---------------------------------------------------------------- queries
    def host(self, name: str) -> Host:
        """The host called ``name``; KeyError naming the known hosts otherwise."""
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(f"topology {self.name!r} has no host {name!r} (hosts: {[h.name for h in self.hosts]})")

    def links_of(self, host: str) -> list[Link]:
        """The links of one host, in topology order."""
        return [link for link in self.links if link.host == host]

    def addresses(self, host: str, version: int | None = None) -> list[str]:
        """Bare IP addresses of ``host`` (all links), optionally only IPv4 (4) or IPv6 (6)."""
        out = []
        for link in self.links_of(host):
            for a in link.addresses:
                ip = ipaddress.ip_interface(a).ip
                if version is None or ip.version == version:
                    out.append(str(ip))
        return out

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; ``Topology.from_dict(t.to_dict()) == t``."""
        return {
            "name": self.name,
            "hosts": [
                {
                    "name": h.name,
                    **({"sysctls": dict(h.sysctls)} if h.sysctls else {}),
                    **(
                        {"routes": [{"dst": r.dst, "gateway": r.gateway} for r in h.routes]}
                        if h.routes
                        else {}
                    ),
                }
                for h in self.hosts
            ],
            "switches": [{"name": s.name} for s in self.switches],
            "links": [
                {"host": lk.host, "switch": lk.switch, "ifname": lk.ifname, "addresses": list(lk.addresses)}
                for lk in self.links
            ],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "topology") -> Topology:
        """Build from a plain description (scenario file, fixture parameter); errors name ``source``, field.

        Hosts and switches may be given as bare names (``"hosts": ["a", "b"]``) for brevity.
        """
        if not isinstance(data, Mapping):
            raise TopologyError(f"{source}: expected a mapping with name/hosts/switches/links, got {data!r}")
        unknown = set(data) - {"name", "hosts", "switches", "links"}
        if unknown:
            raise TopologyError(
                f"{source}: unknown field(s) {sorted(unknown)} (allowed: name, hosts, switches, links)"
            )
        try:
            return cls(
                name=data.get("name", "lab"),
                hosts=[
                    _host_from(f"{source}: hosts[{i}]", h) for i, h in enumerate(_seq(source, "hosts", data))
                ],
                switches=[
                    _switch_from(f"{source}: switches[{i}]", s)
                    for i, s in enumerate(_seq(source, "switches", data))
                ],
                links=[
                    _link_from(f"{source}: links[{i}]", lk)
                    for i, lk in enumerate(_seq(source, "links", data))
                ],
            )
        except TopologyError as exc:
            msg = str(exc)
            raise TopologyError(msg if msg.startswith(source) else f"{source}: {msg}") from None

    # ---------------------------------------------------------------- the default lab
    @classmethod
    def default(cls) -> Topology:
        """client, lb1, lb2, rs1, rs2 on switch "lan", 10.0.0.0/24 and fd00::/64; VIP 10.0.0.100 is free."""
        members = [("client", 10), ("lb1", 11), ("lb2", 12), ("rs1", 21), ("rs2", 22)]
        return cls(
            name="default",
            hosts=[Host(name) for name, _ in members],
            switches=[Switch("lan")],
            links=[Link(name, "lan", "eth0", [f"10.0.0.{n}/24", f"fd00::{n}/64"]) for name, n in members],
        )

    def describe(self) -> str:
        """A short human-readable listing (``netns-lab topology``)."""
        lines = [f"topology {self.name}: {len(self.hosts)} hosts, {len(self.switches)} switches"]
        for s in self.switches:
            lines.append(f"  switch {s.name} (bridge, multicast snooping off)")
        for h in self.hosts:
            lines.append(f"  host {h.name}")
            for link in self.links_of(h.name):
                addrs = ", ".join(link.addresses) or "no addresses"
                lines.append(f"    {link.ifname} -> {link.switch}: {addrs}")
            for r in h.routes:
                lines.append(f"    route {r.dst} via {r.gateway}")
            for k, v in h.sysctls.items():
                lines.append(f"    sysctl {k}={v}")
        return "\n".join(lines)


def _seq(source: str, key: str, data: Mapping[str, Any]) -> list[Any]:
    value = data.get(key, [])
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TopologyError(f"{source}: {key}: expected a list, got {value!r}")
    return list(value)


def _fields(where: str, item: Mapping[str, Any], allowed: set[str], required: set[str]) -> None:
    unknown = set(item) - allowed
    if unknown:
        raise TopologyError(
            f"{where}: unknown field(s) {sorted(unknown)} (allowed: {', '.join(sorted(allowed))})"
        )
    missing = required - set(item)
    if missing:
        raise TopologyError(f"{where}: missing field(s) {sorted(missing)}")


def _host_from(where: str, item: Any) -> Host:
    if isinstance(item, str):
        return Host(item)
    if not isinstance(item, Mapping):
        raise TopologyError(f"{where}: expected a host name or mapping, got {item!r}")
    _fields(where, item, {"name", "sysctls", "routes"}, {"name"})
    routes_raw = item.get("routes", [])
    if isinstance(routes_raw, str) or not isinstance(routes_raw, Sequence):
        raise TopologyError(f"{where}.routes: expected a list, got {routes_raw!r}")
    routes = []
    for j, r in enumerate(routes_raw):
        rw = f"{where}.routes[{j}]"
        if not isinstance(r, Mapping):
            raise TopologyError(f"{rw}: expected a mapping with dst and gateway, got {r!r}")
        _fields(rw, r, {"dst", "gateway"}, {"dst", "gateway"})
        routes.append(Route(r["dst"], r["gateway"]))
    sysctls = item.get("sysctls", {})
    if not isinstance(sysctls, Mapping):
        raise TopologyError(f"{where}.sysctls: expected a mapping, got {sysctls!r}")
    return Host(item["name"], sysctls={str(k): str(v) for k, v in sysctls.items()}, routes=routes)


def _switch_from(where: str, item: Any) -> Switch:
    if isinstance(item, str):
        return Switch(item)
    if not isinstance(item, Mapping):
        raise TopologyError(f"{where}: expected a switch name or mapping, got {item!r}")
    _fields(where, item, {"name"}, {"name"})
    return Switch(item["name"])


def _link_from(where: str, item: Any) -> Link:
    if not isinstance(item, Mapping):
        raise TopologyError(f"{where}: expected a mapping with host and switch, got {item!r}")
    _fields(where, item, {"host", "switch", "ifname", "addresses"}, {"host", "switch"})
    addresses = item.get("addresses", [])
    if isinstance(addresses, str) or not isinstance(addresses, Sequence):
        raise TopologyError(f"{where}.addresses: expected a list, got {addresses!r}")
    return Link(item["host"], item["switch"], item.get("ifname", "eth0"), list(addresses))
