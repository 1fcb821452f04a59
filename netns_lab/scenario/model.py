"""Scenario files: what a run builds (topology, routers, servers), does (workload, faults) and expects.

A scenario is read in three passes, each with errors that name the file, the line and the field:

1. YAML with the line of every field (:mod:`netns_lab.scenario.yamlmarks`);
2. the JSON schema (:mod:`netns_lab.scenario.schema`): shape, types, ranges, the fields of each fault kind;
3. this module: cross-references (a fault's target is a router of the scenario, a partition's hosts exist, a
   config file beside the scenario is readable) and defaults, into frozen dataclasses.

Times in a scenario are seconds after the routers have settled (a master elected), so a schedule means the
same thing for every implementation and kernel.
"""

from __future__ import annotations

import ipaddress
import random
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jsonschema

from netns_lab.scenario.schema import CHECK_PARAMS, FAULT_FIELDS, SCHEMA, UNDO
from netns_lab.scenario.yamlmarks import Located, YamlError, load_located
from netns_lab.topology import Topology, TopologyError

__all__ = [
    "SELECTORS",
    "Expectation",
    "Fault",
    "KnownFailure",
    "Problem",
    "RandomFaults",
    "Router",
    "Scenario",
    "ScenarioError",
    "Server",
    "Workload",
    "load_scenario",
    "parse_fault",
    "parse_scenario",
    "shipped_scenario",
    "with_undo",
]

#: fault targets chosen when the fault is due: the current master, or a router that is not master
SELECTORS = ("master", "backup")
#: fault kinds that act on a router's daemon
_DAEMON_FAULTS = {"kill", "stop", "start", "pause", "resume", "reload", "priority", "track-file"}
_DEFAULT_PORTS = {"http": 80, "tcp": 7}
_VIRTUAL_SERVER = re.compile(r"^\s*virtual_server(?:_group)?\s", re.MULTILINE)


@dataclass(frozen=True)
class Problem:
    """One mistake in a scenario file: where (file, 1-based line, field path) and what."""

    file: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """A scenario file cannot be used; ``problems`` lists every mistake found (str(): one per line)."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Router:
    """A host running a VRRP daemon with ``config`` (keepalived.conf text); ``impl`` None: the run's choice.

    ``@RUN_DIR@`` in the text is replaced by the router's run directory when the run starts (for files the
    daemon tracks, e.g. ``vrrp_track_file``, which a ``track-file`` fault writes there)."""

    host: str
    config: str
    source: str
    impl: str | None = None


@dataclass(frozen=True)
class Server:
    """A host answering ``serve`` on ``port`` with its own name (http: any GET; tcp: one line per connection).

    On a router it is the service behind the VIP (no IPVS needed): each answer says which router held the VIP.
    """

    host: str
    serve: str
    port: int


@dataclass(frozen=True)
class Workload:
    """Clients in ``client`` opening a connection to ``target``:``port`` ``rate`` times a second."""

    client: str
    target: str
    port: int
    protocol: str = "tcp"
    rate: float = 10.0
    timeout: float = 1.0
    path: str = "/"

    @property
    def name(self) -> str:
        return f"{self.client}->{self.target}:{self.port}/{self.protocol}"


@dataclass(frozen=True)
class Fault:
    """One fault, due ``at`` seconds after the routers settled. ``line`` is where the file asked for it
    (0: drawn from a seed); ``undoes`` is set on the fault a ``duration`` scheduled to lift an earlier one, and
    ``lifts_at`` is that one's ``at`` (so ``resume master`` resumes the host that ``pause master`` paused)."""

    at: float
    kind: str
    line: int = 0
    target: str | None = None
    targets: tuple[str, ...] = ()
    groups: tuple[tuple[str, ...], ...] = ()
    switch: str | None = None
    duration: float | None = None
    priority: int | None = None
    probability: float | None = None
    file: str | None = None
    value: int | None = None
    ifname: str = "eth0"
    note: str = ""
    undoes: str | None = None
    lifts_at: float | None = None

    def describe(self) -> str:
        """A short human text: ``pause master for 5 s``."""
        parts = [self.kind]
        if self.target:
            parts.append(self.target)
        if self.targets:
            parts.append(",".join(self.targets))
        if self.groups:
            parts.append(" | ".join(",".join(g) for g in self.groups))
        if self.priority is not None:
            parts.append(f"to {self.priority}")
        if self.probability is not None:
            parts.append(f"{self.probability:.0%}")
        if self.file is not None:
            parts.append(f"{self.file}={self.value}")
        if self.kind in ("link-down", "link-up"):
            parts.append(self.ifname)
        if self.duration:
            parts.append(f"for {self.duration:g} s")
        return " ".join(parts)


@dataclass(frozen=True)
class RandomFaults:
    """``count`` faults of ``kinds`` drawn from ``seed``, one every ``spacing`` s from ``start``, each lasting
    ``duration`` s, aimed at ``targets``."""

    count: int
    kinds: tuple[str, ...]
    seed: int = 0
    start: float = 5.0
    spacing: float = 10.0
    duration: float = 4.0
    targets: tuple[str, ...] = ("master",)
    probability: float = 0.3


@dataclass(frozen=True)
class Expectation:
    """A checker to run over the history (``check``), with its parameters; ``line`` in the file."""

    check: str
    params: Mapping[str, Any] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class KnownFailure:
    """``impl`` is known to fail this scenario, for ``reason``; the run still exits non-zero for it."""

    impl: str
    reason: str


@dataclass(frozen=True)
class Scenario:
    """A whole scenario file, validated."""

    name: str
    path: Path
    topology: Topology
    routers: tuple[Router, ...]
    description: str = ""
    servers: tuple[Server, ...] = ()
    workload: tuple[Workload, ...] = ()
    faults: tuple[Fault, ...] = ()
    random_faults: RandomFaults | None = None
    duration: float = 30.0
    settle: float | None = None
    expect: tuple[Expectation, ...] = ()
    known_failures: tuple[KnownFailure, ...] = ()
    kernel: str = "auto"
    #: the routers program IPVS (their configs have virtual servers): None infers it from the configs
    ipvs: bool | None = None

    @property
    def needs_ipvs(self) -> bool:
        """Whether a run needs a kernel with IPVS: the file says so, or a router's config has virtual_server
        blocks (its checker process programs the director's IPVS table)."""
        if self.ipvs is not None:
            return self.ipvs
        return any(has_virtual_servers(r.config) for r in self.routers)


    def router(self, host: str) -> Router:
        for r in self.routers:
            if r.host == host:
                return r
        raise KeyError(f"scenario {self.name}: no router {host!r}")

    def known_failure(self, impl: str) -> KnownFailure | None:
        """Why ``impl`` is known to fail this scenario, if it is."""
        return next((k for k in self.known_failures if k.impl == impl), None)

    def schedule(self, seed: int | None = None) -> list[Fault]:
        """Every fault of the run in time order: the file's, the ones their durations imply, and the ones drawn
        from ``seed`` (default: ``random_faults.seed``). The same seed always gives the same schedule."""
        out: list[Fault] = []
        for f in self.faults:
            out.extend(_with_undo(f))
        rf = self.random_faults
        if rf is not None:
            rng = random.Random(rf.seed if seed is None else seed)
            for i in range(rf.count):
                kind = rng.choice(rf.kinds)
                target = rng.choice(rf.targets)
                at = round(rf.start + i * rf.spacing + rng.uniform(0, rf.spacing / 4), 3)
                # Each drawn fault is lifted before the next one starts, so faults never pile up unseen.
                duration = round(min(rf.duration, rf.spacing * 0.6), 3)
                if kind == "partition":
                    fault = Fault(at, kind, groups=((target,),), duration=duration, note="drawn")
                elif kind == "loss":
                    fault = Fault(
                        at, kind, targets=(target,), probability=rf.probability, duration=duration, note="drawn"
                    )
                else:
                    fault = Fault(at, kind, target=target, duration=duration, note="drawn")
                out.extend(_with_undo(fault))
        return sorted(out, key=lambda f: f.at)

    @property
    def last_fault_at(self) -> float:
        """When the last scheduled fault (or its undoing) happens, seconds after settling (0: no fault)."""
        return max((f.at for f in self.schedule()), default=0.0)


def has_virtual_servers(config: str) -> bool:
    """Whether a keepalived.conf text has ``virtual_server`` (or ``virtual_server_group``) blocks."""
    return bool(_VIRTUAL_SERVER.search(config))


def _with_undo(f: Fault) -> list[Fault]:
    undo = UNDO.get(f.kind)
    if undo is None or f.duration is None:
        return [f]
    lift = replace(f, at=round(f.at + f.duration, 6), kind=undo, duration=None, undoes=f.kind, note="", lifts_at=f.at)
    if undo == "heal":
        lift = replace(lift, groups=())
    if undo == "clear-loss":
        lift = replace(lift, probability=None)
    return [f, lift]


# ------------------------------------------------------------------------------------------------ reading
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ScenarioError lists every problem with file:line: field."""
    p = Path(path)
    try:
        text = p.read_text()
    except UnicodeDecodeError:
        raise ScenarioError([Problem(str(p), 0, "", "not a text file (UTF-8 YAML expected)")]) from None
    except OSError as exc:
        raise ScenarioError([Problem(str(p), 0, "", f"cannot read: {exc.strerror or exc}")]) from None
    return parse_scenario(text, p)


def _field(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_problems(file: str, loc: Located, schema: Mapping[str, Any] = SCHEMA) -> list[Problem]:
    validator = jsonschema.Draft202012Validator(schema)
    problems: list[Problem] = []
    for err in validator.iter_errors(loc.data):
        path = list(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for key in sorted(set(err.instance) - allowed, key=str):
                kpath = [*path, key]
                hint = f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
                problems.append(Problem(file, loc.line(tuple(kpath)), _field(kpath), f"unknown field{hint}"))
            continue
        if err.validator == "required" and isinstance(err.instance, dict):
            problems.append(Problem(file, loc.value_line(tuple(path)), _field(path) or "(top level)", err.message))
            continue
        if err.validator == "oneOf" and path == ["topology"]:
            msg = "expected 'default' or a mapping with hosts, switches and links"
            problems.append(Problem(file, loc.line(tuple(path)), "topology", msg))
            continue
        if "propertyNames" in err.schema_path and isinstance(err.instance, str):
            kpath = [*path, err.instance]  # a bad key: point at the key itself
            msg = f"bad host name {err.instance!r}: use 1-20 characters a-z, 0-9 and '-', starting with a letter"
            problems.append(Problem(file, loc.line(tuple(kpath)), _field(kpath), msg))
            continue
        msg = err.message
        if err.validator == "enum":
            msg = f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
        elif err.validator == "pattern" and err.schema is SCHEMA["properties"]["name"]:
            msg = f"{err.instance!r}: use 1-40 characters a-z, 0-9 and '-', starting with a letter"
        problems.append(Problem(file, loc.line(tuple(path)), _field(path) or "(top level)", msg))
    unique: dict[tuple[int, str, str], Problem] = {}
    for pr in problems:
        unique.setdefault((pr.line, pr.field, pr.message), pr)
    return sorted(unique.values(), key=lambda pr: (pr.line, pr.field))


_TOPO_FIELD_RE = re.compile(r"(hosts|switches|links)\[(\d+)\](?:\s*\([^)]*\))?(?:\.(\w+))?(?:\[(\d+)\])?")


def _topology_problem(file: str, loc: Located, exc: TopologyError) -> Problem:
    """Map a TopologyError ("topology: links[2].host: unknown host") to the line of that field."""
    msg = str(exc)
    path: list[str | int] = ["topology"]
    m = _TOPO_FIELD_RE.search(msg)
    if m:
        path += [m.group(1), int(m.group(2))]
        if m.group(3):
            path.append(m.group(3))
            if m.group(4):
                path.append(int(m.group(4)))
        msg = msg[m.end() :].lstrip(": ") or msg
    else:
        msg = msg.split(": ", 1)[-1]
    return Problem(file, loc.line(tuple(path)), _field(path), msg)


class _Builder:
    """Pass 3: cross-references and defaults. Collects problems instead of stopping at the first."""

    def __init__(self, file: str, base: Path, loc: Located) -> None:
        self.file = file
        self.base = base
        self.loc = loc
        self.problems: list[Problem] = []

    def bad(self, path: Sequence[str | int], message: str) -> None:
        self.problems.append(Problem(self.file, self.loc.line(tuple(path)), _field(path), message))

    def build(self, data: Mapping[str, Any], path: Path) -> Scenario | None:
        topo = self.topology(data.get("topology", "default"))
        if topo is None:
            return None
        hosts = {h.name for h in topo.hosts}
        routers = self.routers(data["routers"], hosts)
        router_hosts = {r.host for r in routers}
        servers = self.servers(data.get("servers", {}), hosts, router_hosts)
        workload = self.workload(data.get("workload", []), hosts)
        duration = float(data.get("duration", 30.0))
        switches = [s.name for s in topo.switches]
        faults = tuple(
            self.fault(i, f, hosts, router_hosts, {s.host for s in servers}, switches, duration)
            for i, f in enumerate(data.get("faults", []))
        )
        rf = self.random_faults(data.get("random_faults"), hosts, router_hosts)
        expect = tuple(self.expectation(i, e, router_hosts) for i, e in enumerate(data.get("expect", [])))
        known = tuple(KnownFailure(k["impl"], k["reason"]) for k in data.get("known_failures", []))
        seen_impls: set[str] = set()
        for i, k in enumerate(known):
            if k.impl in seen_impls:
                self.bad(["known_failures", i, "impl"], f"{k.impl} is listed twice")
            seen_impls.add(k.impl)
        if self.problems:
            return None
        return Scenario(
            name=data["name"],
            path=path,
            topology=topo,
            routers=routers,
            description=str(data.get("description", "")).strip(),
            servers=servers,
            workload=workload,
            faults=faults,
            random_faults=rf,
            duration=duration,
            settle=float(data["settle"]) if "settle" in data else None,
            expect=expect,
            known_failures=known,
            kernel=data.get("kernel", "auto"),
            ipvs=data.get("ipvs"),
        )

    def topology(self, raw: Any) -> Topology | None:
        if raw == "default":
            return Topology.default()
        try:
            return Topology.from_dict({"name": "scenario", **raw}, source="topology")
        except TopologyError as exc:
            self.problems.append(_topology_problem(self.file, self.loc, exc))
            return None

    def routers(self, raw: Mapping[str, Any], hosts: set[str]) -> tuple[Router, ...]:
        out = []
        for host, spec in raw.items():
            where: list[str | int] = ["routers", host]
            if host not in hosts:
                self.bad(where, f"no host {host!r} in the topology (hosts: {', '.join(sorted(hosts))})")
                continue
            if ("config" in spec) == ("config_file" in spec):
                self.bad(where, "give exactly one of config (inline keepalived.conf) or config_file")
                continue
            if "config" in spec:
                line = self.loc.value_line(("routers", host, "config"))
                out.append(Router(host, spec["config"], f"{self.file}:{line}", spec.get("impl")))
                continue
            cpath = self.base / spec["config_file"]
            try:
                text = cpath.read_text()
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self.bad([*where, "config_file"], f"cannot read {cpath}: {reason}")
                continue
            out.append(Router(host, text, str(cpath), spec.get("impl")))
        return tuple(out)

    def servers(self, raw: Mapping[str, Any], hosts: set[str], routers: set[str]) -> tuple[Server, ...]:
        out = []
        for host, spec in raw.items():
            if host not in hosts:
                self.bad(["servers", host], f"no host {host!r} in the topology")
            else:
                out.append(Server(host, spec["serve"], spec.get("port", _DEFAULT_PORTS[spec["serve"]])))
        return tuple(out)

    def workload(self, raw: Sequence[Mapping[str, Any]], hosts: set[str]) -> tuple[Workload, ...]:
        out = []
        for i, w in enumerate(raw):
            if w["client"] not in hosts:
                self.bad(["workload", i, "client"], f"no host {w['client']!r} in the topology")
                continue
            try:
                ipaddress.ip_address(w["target"])
            except ValueError:
                self.bad(["workload", i, "target"], f"{w['target']!r} is not an IP address (a VIP)")
                continue
            protocol = w.get("protocol", "tcp")
            if "path" in w and protocol != "http":
                self.bad(["workload", i, "path"], "path is for protocol http")
                continue
            out.append(
                Workload(
                    w["client"],
                    w["target"],
                    w["port"],
                    protocol,
                    float(w.get("rate", 10.0)),
                    float(w.get("timeout", 1.0)),
                    w.get("path", "/"),
                )
            )
        return tuple(out)

    def _target(
        self, path: list[str | int], target: str, kind: str, hosts: set[str], routers: set[str], servers: set[str]
    ) -> None:
        if target in SELECTORS:
            if kind in ("server-stop", "server-start"):
                self.bad(path, f"{kind} needs a real server's host name, not {target!r}")
            return
        if kind in ("server-stop", "server-start"):
            if target not in servers:
                self.bad(path, f"{target!r} is not a real server of this scenario (servers: {sorted(servers)})")
        elif kind in _DAEMON_FAULTS:
            if target not in routers:
                self.bad(
                    path,
                    f"{target!r} is not a router of this scenario (routers: {sorted(routers)}, "
                    f"or {' / '.join(SELECTORS)})",
                )
        elif target not in hosts:
            self.bad(path, f"no host {target!r} in the topology (or use {' / '.join(SELECTORS)})")

    def fault(
        self,
        i: int,
        f: Mapping[str, Any],
        hosts: set[str],
        routers: set[str],
        servers: set[str],
        switches: list[str],
        duration: float,
    ) -> Fault:
        kind = f["fault"]
        base: list[str | int] = ["faults", i]
        if f["at"] >= duration:
            self.bad([*base, "at"], f"at {f['at']:g} s is not before the end of the run (duration {duration:g} s)")
        if "target" in f:
            self._target([*base, "target"], f["target"], kind, hosts, routers, servers)
        for j, t in enumerate(f.get("targets", [])):
            self._target([*base, "targets", j], t, kind, hosts, routers, servers)
        seen: dict[str, int] = {}
        for j, group in enumerate(f.get("groups", [])):
            for k, h in enumerate(group):
                if h not in hosts:
                    self.bad([*base, "groups", j, k], f"no host {h!r} in the topology")
                elif h in seen:
                    self.bad([*base, "groups", j, k], f"{h!r} is already in group {seen[h]}")
                seen[h] = j
        switch = f.get("switch")
        if switch is not None and switch not in switches:
            self.bad([*base, "switch"], f"no switch {switch!r} in the topology (switches: {', '.join(switches)})")
        if kind in ("partition", "heal") and switch is None and len(switches) > 1:
            self.bad(base, f"the topology has several switches; say which one ({', '.join(switches)})")
        if kind in ("partition", "heal") and switch is None and switches:
            switch = switches[0]
        return Fault(
            at=float(f["at"]),
            kind=kind,
            line=self.loc.line(tuple(base)),
            target=f.get("target"),
            targets=tuple(f.get("targets", ())),
            groups=tuple(tuple(g) for g in f.get("groups", ())),
            switch=switch,
            duration=float(f["duration"]) if "duration" in f else None,
            priority=f.get("priority"),
            probability=float(f["probability"]) if "probability" in f else None,
            file=f.get("file"),
            value=f.get("value"),
            ifname=f.get("ifname", "eth0"),
            note=f.get("note", ""),
        )

    def random_faults(self, raw: Mapping[str, Any] | None, hosts: set[str], routers: set[str]) -> RandomFaults | None:
        if raw is None:
            return None
        targets = tuple(raw.get("targets", ("master",)))
        for j, t in enumerate(targets):
            if t not in SELECTORS and t not in routers:
                self.bad(["random_faults", "targets", j], f"{t!r} is not a router of this scenario")
        return RandomFaults(
            count=raw["count"],
            kinds=tuple(raw["kinds"]),
            seed=raw.get("seed", 0),
            start=float(raw.get("start", 5.0)),
            spacing=float(raw.get("spacing", 10.0)),
            duration=float(raw.get("duration", 4.0)),
            targets=targets,
            probability=float(raw.get("probability", 0.3)),
        )

    def expectation(self, i: int, e: Mapping[str, Any], routers: set[str]) -> Expectation:
        params = {k: v for k, v in e.items() if k in CHECK_PARAMS[e["check"]]}
        if e["check"] == "final_master":
            if "host" not in params:
                self.bad(["expect", i], "final_master needs host: the router that must be master at the end")
            elif params["host"] not in routers:
                self.bad(["expect", i, "host"], f"{params['host']!r} is not a router of this scenario")
        return Expectation(e["check"], params, self.loc.line(("expect", i)))


def parse_fault(raw: Mapping[str, Any], scenario: Scenario, *, source: str = "fault") -> Fault:
    """One fault given outside a file (``netns-lab fault``), checked exactly as a fault of ``scenario``'s
    ``faults`` list would be: the same schema, the same cross-references. ``at`` defaults to 0 (now).
    ScenarioError's problems name ``source`` and the field (``source: target: 'lb9' is not a router...``)."""
    data = {"at": 0, **raw}
    loc = Located(data)
    problems = _schema_problems(source, loc, SCHEMA["properties"]["faults"]["items"])
    if not problems:
        builder = _Builder(source, scenario.path.parent, loc)
        hosts = {h.name for h in scenario.topology.hosts}
        fault = builder.fault(
            0, data, hosts, {r.host for r in scenario.routers}, {s.host for s in scenario.servers},
            [s.name for s in scenario.topology.switches], float("inf"),
        )  # fmt: skip
        problems = builder.problems
        if not problems:
            return replace(fault, line=0)
    raise ScenarioError(
        [replace(p, line=0, field=p.field.removeprefix("faults[0]").lstrip(".")) for p in problems]
    )


def shipped_scenario(name: str) -> Path:
    """The path of a scenario shipped with the project (``master-crash``): the repository's ``scenarios/``
    beside the package (a checkout, an editable install), else the copy an installed wheel put under
    ``<prefix>/share/netns_lab/scenarios``. FileNotFoundError names where it looked."""
    file = name if name.endswith(".yaml") else f"{name}.yaml"
    places = [Path(__file__).resolve().parents[2] / "scenarios", Path(sys.prefix) / "share" / "netns_lab" / "scenarios"]
    for place in places:
        if (place / file).is_file():
            return place / file
    raise FileNotFoundError(f"no shipped scenario {file} (looked in {', '.join(str(p) for p in places)})")


def with_undo(f: Fault) -> list[Fault]:
    """``f``, and the fault that lifts it ``duration`` seconds later when it has a duration (kill -> start,
    pause -> resume, partition -> heal, ...)."""
    return _with_undo(f)


def parse_scenario(text: str, path: str | Path = "<scenario>") -> Scenario:
    """Validate scenario ``text`` read from ``path`` (config files are looked up beside it)."""
    p = Path(path)
    file = str(p)
    try:
        loc = load_located(text)
    except YamlError as exc:
        raise ScenarioError([Problem(file, exc.line, "", exc.message)]) from None
    if not isinstance(loc.data, dict):
        raise ScenarioError([Problem(file, 1, "", "expected a mapping of fields (name, routers, faults, ...)")])
    problems = _schema_problems(file, loc)
    if problems:
        raise ScenarioError(problems)
    builder = _Builder(file, p.parent, loc)
    scenario = builder.build(loc.data, p)
    if scenario is None:
        raise ScenarioError(builder.problems)
    return scenario


# keep the kinds of the schema and the model in step
assert set(FAULT_FIELDS) >= _DAEMON_FAULTS
