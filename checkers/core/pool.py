"""The virtual-server manager's pure part: checker verdicts -> which real servers are in each service, at what
weight, with keepalived's quorum, hysteresis, sorry server, inhibit_on_failure, dynamic weights, notify scripts
and log lines (keepalived's check/ipwrapper.c: update_svr_checker_state, perform_svr_state,
update_quorum_state, update_svr_wgt, init_service_rs, clear_service_rs).

It knows nothing of IPVS: :meth:`Pool.members` says who is in a virtual server and at what weight, and the
daemon maps that onto its IPVS model and syncs it. Events in, actions out, no clock needed (nothing here is
timed: the checks are).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from checkers.core.machine import LogLine, Verdict, WeightChanged

#: IPVS_WEIGHT_LIMIT: the largest weight the kernel takes (INT32_MAX)
WEIGHT_LIMIT = 2**31 - 1


def real_weight(weight: int) -> int:
    """keepalived's real_weight: a dynamic weight clamped to what IPVS accepts."""
    return max(0, min(weight, WEIGHT_LIMIT))


@dataclass(frozen=True)
class Script:
    """A notify/quorum command as argv (split by the config layer, never run through a shell) and its user."""

    argv: tuple[str, ...]
    user: int | str | None = None
    group: int | str | None = None


@dataclass(frozen=True)
class RealServerSpec:
    """A real server of one virtual server. ``key`` is the caller's id (the daemon maps it to an IPVS
    destination); ``name`` keepalived's text for it (``[192.0.2.2]:tcp:80``); ``checks`` the keys of its checks
    and ``alpha_checks`` those of them that start down."""

    key: str
    name: str
    weight: int = 1
    inhibit: bool = False
    notify_up: Script | None = None
    notify_down: Script | None = None
    checks: tuple[str, ...] = ()
    alpha_checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class SorrySpec:
    key: str
    name: str
    weight: int = 1
    inhibit: bool = False


@dataclass(frozen=True)
class VirtualServerSpec:
    key: str
    name: str
    real_servers: tuple[RealServerSpec, ...] = ()
    quorum: int = 1
    hysteresis: int = 0
    quorum_up: Script | None = None
    quorum_down: Script | None = None
    sorry: SorrySpec | None = None
    omega: bool = False


@dataclass(frozen=True)
class RunScript:
    """Run a notify script (``why`` names the event for the log)."""

    script: Script
    why: str


@dataclass(frozen=True)
class FifoLine:
    """A line for ``notify_fifo`` / ``lvs_notify_fifo``: ``VS [vip]:tcp:80 UP`` or
    ``RS [rip]:tcp:80 [vip]:tcp:80 DOWN`` (ipwrapper.c notify_fifo_vs / notify_fifo_rs), newline-terminated."""

    line: str


@dataclass(frozen=True)
class TableChanged:
    """Virtual server ``vs_key``'s members changed: the daemon syncs that service."""

    vs_key: str


@dataclass(frozen=True)
class QuorumChanged:
    """A virtual server's quorum was decided (ipwrapper.c do_vs_notifies: scripts, FIFO line, e-mail alert):
    ``up``, with keepalived's ``threshold`` and live ``weight``; ``init`` at start, ``stopping`` at stop."""

    vs_key: str
    name: str
    up: bool
    init: bool = False
    quorum: int = 1
    hysteresis: int = 0
    threshold: int = 0
    weight: int = 0
    stopping: bool = False


@dataclass(frozen=True)
class RealServerShut:
    """A real server that was in the table leaves it with its virtual server, by a reload or at stop
    (ipwrapper.c clear_service_rs: its e-mail alert)."""

    vs_key: str
    rs_key: str
    vs_name: str
    rs_name: str
    stopping: bool


PoolAction = LogLine | RunScript | FifoLine | TableChanged | QuorumChanged | RealServerShut


@dataclass(frozen=True)
class Member:
    """One destination a virtual server must have: a real (or the sorry) server's key and its weight."""

    key: str
    weight: int
    sorry: bool = False


@dataclass
class _Rs:
    spec: RealServerSpec
    alive: bool = False
    failed: int = 0
    check_up: dict[str, bool] = field(default_factory=dict)
    dyn_weight: dict[str, int | None] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)

    @property
    def effective_weight(self) -> int:
        dyn = [w for w in self.dyn_weight.values() if w is not None]
        return (dyn[-1] if dyn else self.spec.weight) + sum(self.offsets.values())


@dataclass
class _Vs:
    spec: VirtualServerSpec
    rs: list[_Rs]
    quorum_up: bool = True
    sorry_alive: bool = False

    def live_weight(self) -> int:
        return sum(real_weight(r.effective_weight) for r in self.rs if r.alive)


class Pool:
    """Every virtual server's membership state; feed it checker actions, read :meth:`members`."""

    def __init__(self, specs: Iterable[VirtualServerSpec]) -> None:
        self.vs: dict[str, _Vs] = {}
        self._by_check: dict[str, tuple[_Vs, _Rs]] = {}
        for spec in specs:
            if spec.key in self.vs:
                raise ValueError(f"virtual server {spec.name} is listed twice")
            vs = _Vs(spec, [])
            for rs_spec in spec.real_servers:
                rs = _Rs(rs_spec)
                for check in rs_spec.checks:
                    if check in self._by_check:
                        raise ValueError(f"check {check!r} is attached twice")
                    rs.check_up[check] = check not in rs_spec.alpha_checks
                    self._by_check[check] = (vs, rs)
                rs.failed = sum(not up for up in rs.check_up.values())
                vs.rs.append(rs)
            self.vs[spec.key] = vs

    # ------------------------------------------------------------------ start / stop
    def start(self) -> list[PoolAction]:
        """init_services: real servers without a failed check are in; quorum is computed, the sorry server goes
        in when the pool starts without quorum."""
        actions: list[PoolAction] = []
        for vs in self.vs.values():
            for rs in vs.rs:
                rs.alive = rs.failed == 0
            vs.quorum_up = vs.live_weight() >= vs.spec.quorum + vs.spec.hysteresis
            actions.extend(self._update_quorum(vs, init=True))
            actions.append(TableChanged(vs.spec.key))
        return actions

    def shutdown(self) -> list[PoolAction]:
        """clear_services: every real server leaves; with ``omega`` the down notifiers and quorum_down run."""
        actions: list[PoolAction] = []
        for vs in self.vs.values():
            for rs in vs.rs:
                actions.append(LogLine(vs.spec.key, f"Shutting down service {rs.spec.name} from VS {vs.spec.name}"))
                if rs.alive or rs.spec.inhibit:
                    actions.append(RealServerShut(vs.spec.key, rs.spec.key, vs.spec.name, rs.spec.name, stopping=True))
                if rs.alive:
                    rs.alive = False
                    if vs.spec.omega:
                        actions.extend(self._rs_notify(vs, rs))
            vs.quorum_up = False
            if vs.spec.omega:
                actions.extend(self._vs_notify(vs, stopping=True))
            actions.append(TableChanged(vs.spec.key))
        return actions

    # ------------------------------------------------------------------ reload
    def reconfigure(self, specs: Iterable[VirtualServerSpec],
                    check_up: Mapping[str, bool]) -> tuple[list[PoolAction], set[str]]:
        """A reload (keepalived's clear_diff_services): returns the actions and the keys of the virtual servers
        that left (their services go; nothing else of theirs is left here).

        An unchanged virtual server (equal spec, every check kept: in ``check_up``) keeps everything: members,
        quorum, sorry server, weights, and emits nothing.  A changed one keeps, per real server that stayed
        (same key), the state of the checks that stayed (``check_up``: each kept check's verdict now) and their
        dynamic weights, its quorum and (if unchanged) sorry-server state, then recomputes: real servers whose
        membership changed log and notify as after a verdict, quorum as after a verdict; real servers that left
        are removed with keepalived's lines.  A new virtual server starts as at start.  Every changed or new one
        is reported TableChanged.
        """
        actions: list[PoolAction] = []
        new_specs = list(specs)
        keys = {s.key for s in new_specs}
        removed = {k for k in self.vs if k not in keys}
        for key in sorted(removed):
            gone = self.vs.pop(key)
            actions.append(LogLine(key, f"Removing Virtual Server {gone.spec.name}"))
            actions.extend(RealServerShut(key, rs.spec.key, gone.spec.name, rs.spec.name, stopping=False)
                           for rs in gone.rs if rs.alive or rs.spec.inhibit)
        by_check: dict[str, tuple[_Vs, _Rs]] = {}
        vs_map: dict[str, _Vs] = {}
        for spec in new_specs:
            old = self.vs.get(spec.key)
            checks = [c for rs in spec.real_servers for c in rs.checks]
            if old is not None and old.spec == spec and all(c in check_up for c in checks):
                vs = old
            elif old is None:
                vs = self._fresh(spec)
                vs.quorum_up = vs.live_weight() >= spec.quorum + spec.hysteresis
                actions.extend(self._update_quorum(vs, init=True))
                actions.append(TableChanged(spec.key))
            else:
                vs = self._migrated(old, spec, check_up, actions)
                actions.append(TableChanged(spec.key))
            vs_map[spec.key] = vs
            for rs in vs.rs:
                for check in rs.spec.checks:
                    if check in by_check:
                        raise ValueError(f"check {check!r} is attached twice")
                    by_check[check] = (vs, rs)
        self.vs = vs_map
        self._by_check = by_check
        return actions, removed

    @staticmethod
    def _fresh(spec: VirtualServerSpec) -> _Vs:
        vs = _Vs(spec, [])
        for rs_spec in spec.real_servers:
            rs = _Rs(rs_spec)
            for check in rs_spec.checks:
                rs.check_up[check] = check not in rs_spec.alpha_checks
            rs.failed = sum(not up for up in rs.check_up.values())
            rs.alive = rs.failed == 0
            vs.rs.append(rs)
        return vs

    def _migrated(self, old: _Vs, spec: VirtualServerSpec, check_up: Mapping[str, bool],
                  actions: list[PoolAction]) -> _Vs:
        vs = self._fresh(spec)
        vs.quorum_up = old.quorum_up
        if old.spec.sorry is not None and old.spec.sorry == spec.sorry:
            vs.sorry_alive = old.sorry_alive
        before = {rs.spec.key: rs for rs in old.rs}
        for rs in vs.rs:
            prev = before.pop(rs.spec.key, None)
            for check in rs.spec.checks:
                if check in check_up:
                    rs.check_up[check] = check_up[check]
                if prev is not None and check in prev.dyn_weight and check in check_up:
                    rs.dyn_weight[check] = prev.dyn_weight[check]
                    rs.offsets[check] = prev.offsets.get(check, 0)
            rs.failed = sum(not up for up in rs.check_up.values())
            alive = rs.failed == 0
            rs.alive = prev.alive if prev is not None else alive
            if rs.alive != alive:
                actions.extend(self._set_alive(vs, rs, alive))
        for prev in before.values():  # ipwrapper.c clear_diff_rs / clear_service_rs
            inhibited = "(inhibited) " if prev.spec.inhibit and not prev.alive else ""
            actions.append(LogLine(spec.key, f"service {prev.spec.name} no longer exist"))
            actions.append(LogLine(spec.key, f"Removing {inhibited}service {prev.spec.name} from VS {spec.name}"))
            if prev.alive or prev.spec.inhibit:
                actions.append(RealServerShut(spec.key, prev.spec.key, spec.name, prev.spec.name, stopping=False))
        # a new sorry server while the quorum is down goes in at once, as at start
        actions.extend(self._update_quorum(vs, init=not vs.quorum_up and not vs.sorry_alive))
        return vs

    # ------------------------------------------------------------------ events from the checks
    def on_check(self, action: Verdict | WeightChanged) -> list[PoolAction]:
        hit = self._by_check.get(action.key)
        if hit is None:
            return []
        vs, rs = hit
        if isinstance(action, WeightChanged):
            return self._update_weight(vs, rs, action)
        if not action.changed:
            return self._rs_notify(vs, rs)  # first run confirming the start state: notifiers only
        if rs.check_up[action.key] == action.up:
            return []
        actions: list[PoolAction] = []
        if (action.up and rs.failed <= 1) or (not action.up and rs.failed == 0):
            actions.extend(self._set_alive(vs, rs, action.up))
        rs.check_up[action.key] = action.up
        rs.failed += -1 if action.up else 1
        return actions

    def _rs_notify(self, vs: _Vs, rs: _Rs) -> list[PoolAction]:
        """do_rs_notifies: the real server's script and FIFO line for its state now."""
        script = rs.spec.notify_up if rs.alive else rs.spec.notify_down
        why = f"{'notify_up' if rs.alive else 'notify_down'} {rs.spec.name}"
        line = FifoLine(f"RS {rs.spec.name} {vs.spec.name} {'UP' if rs.alive else 'DOWN'}\n")
        return [RunScript(script, why), line] if script else [line]

    def _vs_notify(self, vs: _Vs, *, init: bool = False, threshold: int = 0, weight: int = 0,
                   stopping: bool = False) -> list[PoolAction]:
        """do_vs_notifies: quorum_up/quorum_down, the virtual server's FIFO line and its alert."""
        script = vs.spec.quorum_up if vs.quorum_up else vs.spec.quorum_down
        why = f"{'quorum_up' if vs.quorum_up else 'quorum_down'} {vs.spec.name}"
        line = FifoLine(f"VS {vs.spec.name} {'UP' if vs.quorum_up else 'DOWN'}\n")
        alert = QuorumChanged(vs.spec.key, vs.spec.name, vs.quorum_up, init, vs.spec.quorum, vs.spec.hysteresis,
                              threshold, weight, stopping)
        return [RunScript(script, why), line, alert] if script else [line, alert]

    def _set_alive(self, vs: _Vs, rs: _Rs, alive: bool) -> list[PoolAction]:
        """perform_svr_state."""
        if rs.alive == alive:
            return []
        inhibit = rs.spec.inhibit
        verb = ("Enabl" if inhibit else "Add") if alive else ("Disabl" if inhibit else "Remov")
        prep = "of" if inhibit else ("to" if alive else "from")
        actions: list[PoolAction] = [LogLine(vs.spec.key, f"{verb}ing service {rs.spec.name} {prep} VS {vs.spec.name}")]
        if vs.quorum_up or vs.spec.sorry is None or not vs.sorry_alive:
            actions.append(TableChanged(vs.spec.key))
        rs.alive = alive
        actions.extend(self._rs_notify(vs, rs))
        actions.extend(self._update_quorum(vs, init=False))
        return actions

    def _update_weight(self, vs: _Vs, rs: _Rs, action: WeightChanged) -> list[PoolAction]:
        """update_svr_wgt."""
        old = real_weight(rs.effective_weight)
        rs.dyn_weight[action.key] = action.weight
        rs.offsets[action.key] = action.offset
        new = real_weight(rs.effective_weight)
        if new == old:
            return []
        actions: list[PoolAction] = [LogLine(vs.spec.key, f"Changing weight from {old} to {new} for "
                                             f"{'' if rs.alive else 'in'}active service {rs.spec.name} of VS "
                                             f"{vs.spec.name}")]
        if rs.alive and (vs.quorum_up or vs.spec.sorry is None or not vs.sorry_alive):
            actions.append(TableChanged(vs.spec.key))
        actions.extend(self._update_quorum(vs, init=False))
        return actions

    def _update_quorum(self, vs: _Vs, init: bool) -> list[PoolAction]:
        """update_quorum_state, with keepalived's log lines."""
        spec = vs.spec
        total = vs.live_weight()
        threshold = spec.quorum + (-1 if vs.quorum_up else 1) * spec.hysteresis
        actions: list[PoolAction] = []
        if not vs.quorum_up and total >= threshold:
            vs.quorum_up = True
            actions.append(LogLine(spec.key, f"Gained quorum {spec.quorum}+{spec.hysteresis}={threshold} <= {total} "
                                             f"for VS {spec.name}"))
            if spec.sorry is not None and vs.sorry_alive:
                verb = "Disabling" if spec.sorry.inhibit else "Removing"
                actions.append(LogLine(spec.key, f"{verb} sorry server {spec.sorry.name} from VS {spec.name}"))
                vs.sorry_alive = False
                actions.append(LogLine(spec.key, f"Adding alive servers to the pool for VS {spec.name}"))
                actions.append(TableChanged(spec.key))
            actions.extend(self._vs_notify(vs, init=init, threshold=threshold, weight=total))
        elif (vs.quorum_up and (total == 0 or total < threshold)) or (
                init and not vs.quorum_up and spec.sorry is not None and not vs.sorry_alive):
            vs.quorum_up = False
            what = "Starting with quorum down" if init else "Lost quorum"
            actions.append(LogLine(spec.key, f"{what} {spec.quorum}-{spec.hysteresis}={threshold} > {total} "
                                             f"for VS {spec.name}"))
            if spec.sorry is not None and not vs.sorry_alive:
                verb = "Enabling" if spec.sorry.inhibit else "Adding"
                actions.append(LogLine(spec.key, f"{verb} sorry server {spec.sorry.name} to VS {spec.name}"))
                actions.append(LogLine(spec.key, f"Removing alive servers from the pool for VS {spec.name}"))
                vs.sorry_alive = True
                actions.append(TableChanged(spec.key))
            actions.extend(self._vs_notify(vs, init=init, threshold=threshold, weight=total))
        return actions

    # ------------------------------------------------------------------ what the table must hold
    def members(self, vs_key: str) -> tuple[Member, ...]:
        """The destinations of one virtual server now. Not alive: gone, or weight 0 with inhibit_on_failure.
        While the sorry server stands in, it alone carries traffic (inhibited real servers stay at weight 0);
        with sorry_server_inhibit it stays at weight 0 when not in use."""
        vs = self.vs[vs_key]
        out: list[Member] = []
        sorry_in = vs.spec.sorry is not None and vs.sorry_alive
        for rs in vs.rs:
            if rs.alive and not sorry_in:
                out.append(Member(rs.spec.key, real_weight(rs.effective_weight)))
            elif rs.spec.inhibit:
                out.append(Member(rs.spec.key, 0))
        if vs.spec.sorry is not None and (sorry_in or vs.spec.sorry.inhibit):
            out.append(Member(vs.spec.sorry.key, vs.spec.sorry.weight if sorry_in else 0, sorry=True))
        return tuple(out)

    def quorum_up(self, vs_key: str) -> bool:
        return self.vs[vs_key].quorum_up

    def alive(self, vs_key: str, rs_key: str) -> bool:
        return next(r.alive for r in self.vs[vs_key].rs if r.spec.key == rs_key)
