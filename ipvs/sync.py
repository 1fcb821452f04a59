"""Desired table -> read the actual table -> apply the minimal set of operations (kube-proxy style).

:func:`plan_sync` is the sans-IO core: it takes the desired and actual tables, what we own and an explicit
``now``, and returns the operations; :class:`SyncEngine` is the thin shell that reads a backend, applies the
plan in one pipelined batch, retries transient failures and reports the rest. The next sync converges whatever
failed, because it starts again from what the kernel really holds.

Ownership: the engine only ever edits or deletes services it owns — services in the desired table, services it
created before, and services a ``claims`` predicate accepts (to adopt our own services after a restart).
Everything else (kube-proxy's, an operator's) is left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from ipvs.backend import Backend
from ipvs.errors import IPVSError
from ipvs.model import DesiredService, Destination, DestKey, DestState, Service, ServiceKey, ServiceState
from ipvs.ops import Op, OpKind


@dataclass(frozen=True)
class SyncPolicy:
    """How removals happen and how hard to retry.

    With ``drain``, a destination leaving the desired table is first set to weight 0 (existing connections
    finish, no new ones arrive) and deleted on a later sync once it has no connections or ``drain_timeout``
    seconds have passed; a destination with no connections is deleted at once.
    """

    drain: bool = False
    drain_timeout: float = 300.0
    retries: int = 2


DrainKey = tuple[ServiceKey, DestKey]


def service_differs(want: Service, have: Service) -> bool:
    return (want.scheduler, want.flags, want.timeout, want.netmask, want.pe_name) != (
        have.scheduler, have.flags, have.timeout, have.netmask, have.pe_name
    )


def dest_differs(want: Destination, have: Destination) -> bool:
    return (want.forward, want.weight, want.u_threshold, want.l_threshold, want.tun_type, want.tun_port,
            want.tun_flags) != (have.forward, have.weight, have.u_threshold, have.l_threshold, have.tun_type,
                                have.tun_port, have.tun_flags)


@dataclass
class Plan:
    ops: list[Op]
    draining: dict[DrainKey, float]


def _plan_removed_dest(key: ServiceKey, d: DestState, now: float, policy: SyncPolicy,
                       draining: dict[DrainKey, float], next_draining: dict[DrainKey, float]) -> Op | None:
    dk = (key, d.dest.key)
    if not policy.drain:
        return Op.delete_dest(key, d.dest.key)
    idle = d.active_conns + d.inact_conns == 0
    since = draining.get(dk)
    if idle or (since is not None and now - since >= policy.drain_timeout):
        return Op.delete_dest(key, d.dest.key)
    next_draining[dk] = now if since is None else since
    if d.dest.weight != 0:
        return Op.edit_dest(key, d.dest.with_(weight=0))
    return None


def plan_sync(
    desired: Sequence[DesiredService],
    actual: Sequence[ServiceState],
    owned: Iterable[ServiceKey],
    now: float,
    policy: SyncPolicy = SyncPolicy(),
    draining: dict[DrainKey, float] | None = None,
) -> Plan:
    """The minimal operations turning ``actual`` into ``desired`` without touching services we do not own.

    Minimal means: one add per missing service or destination, one edit per service or destination whose
    settings differ, one delete per owned service that is no longer desired (its destinations go with it), one
    delete per unwanted destination of a desired service; nothing for what already matches.
    """
    draining = draining or {}
    next_draining: dict[DrainKey, float] = {}
    owned_set = set(owned)
    have = {s.key: s for s in actual}
    want_keys: set[ServiceKey] = set()
    ops: list[Op] = []
    desired_keys = {d.key for d in desired}
    for s in actual:
        if s.key in owned_set and s.key not in desired_keys:
            ops.append(Op.delete_service(s.key))
    for d in desired:
        if d.key in want_keys:
            raise ValueError(f"desired table lists service {d.key} twice")
        want_keys.add(d.key)
        cur = have.get(d.key)
        want_dests: dict[DestKey, Destination] = {}
        for dest in d.dests:
            if dest.key in want_dests:
                raise ValueError(f"desired service {d.key} lists destination {dest.key} twice")
            want_dests[dest.key] = dest
        if cur is None:
            ops.append(Op.add_service(d.service))
            ops.extend(Op.add_dest(d.key, dest) for dest in want_dests.values())
            continue
        if service_differs(d.service, cur.service):
            ops.append(Op.edit_service(d.service))
        cur_dests = {ds.dest.key: ds for ds in cur.dests}
        for ds in cur.dests:
            if ds.dest.key not in want_dests:
                op = _plan_removed_dest(d.key, ds, now, policy, draining, next_draining)
                if op is not None:
                    ops.append(op)
        for dk, dest in want_dests.items():
            have_d = cur_dests.get(dk)
            if have_d is None:
                ops.append(Op.add_dest(d.key, dest))
            elif dest_differs(dest, have_d.dest):
                ops.append(Op.edit_dest(d.key, dest))
    return Plan(ops, next_draining)


def _failures(ops: Sequence[Op], outcomes: Sequence[BaseException | None]) -> list[tuple[Op, IPVSError]]:
    """The failed operations of one batch; a non-IPVS exception is wrapped so callers see one error type."""
    return [
        (op, res if isinstance(res, IPVSError) else IPVSError(0, op.kind.value, repr(res)))
        for op, res in zip(ops, outcomes, strict=True)
        if res is not None
    ]


def _owned_after(owned: set[ServiceKey], ops: Sequence[Op], errors: Sequence[tuple[Op, IPVSError]]) -> set[ServiceKey]:
    """What we still own once ``ops`` ran: services we deleted are no longer ours, unless the delete failed."""
    deleted = {op.key for op in ops if op.kind is OpKind.DELETE_SERVICE}
    failed = {op.key for op, _ in errors if op.kind is OpKind.DELETE_SERVICE}
    return (owned - deleted) | failed


@dataclass
class SyncResult:
    """What one sync did: the operations issued (retries included), and the ones that finally failed."""

    planned: list[Op] = field(default_factory=list)
    requests: int = 0
    errors: list[tuple[Op, IPVSError]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def writes(self) -> int:
        return len(self.planned)


class SyncEngine:
    """Keeps one backend's table converged on a desired table, touching only what it owns."""

    def __init__(self, backend: Backend, policy: SyncPolicy = SyncPolicy(),
                 claims: Callable[[ServiceKey], bool] | None = None) -> None:
        self.backend = backend
        self.policy = policy
        self.claims = claims
        self.owned: set[ServiceKey] = set()
        self.draining: dict[DrainKey, float] = {}

    async def sync(self, desired: Sequence[DesiredService], now: float) -> SyncResult:
        """Read, plan, apply. If the kernel reports transient errors (ENOBUFS, EAGAIN, ...) the whole cycle is
        repeated from a fresh read, up to ``policy.retries`` times, so dependent operations (the destinations
        of a service whose add failed) are retried in the right order. Other errors are reported; the next
        sync starts from the real table again and converges."""
        result = SyncResult()
        owned = set(self.owned)
        plan = Plan([], self.draining)
        for attempt in range(self.policy.retries + 1):
            actual = await self.backend.list_services()
            if self.claims is not None:
                owned.update(s.key for s in actual if self.claims(s.key))
            plan = plan_sync(desired, actual, owned, now, self.policy, self.draining)
            result.planned.extend(plan.ops)
            if not plan.ops:
                result.errors = []
                break
            outcomes = await self.backend.apply_batch(plan.ops)
            result.requests += len(plan.ops)
            result.errors = _failures(plan.ops, outcomes)
            owned = _owned_after(owned, plan.ops, result.errors)
            if not any(err.transient for _, err in result.errors) or attempt == self.policy.retries:
                break
        self.draining = plan.draining
        self.owned = owned | {d.key for d in desired}
        return result

    async def sync_changed(self, desired: Sequence[DesiredService], changed: Iterable[ServiceKey],
                           now: float) -> SyncResult:
        """Converge only the services in ``changed`` (e.g. the one whose checker just flipped a destination):
        read just those services, plan, apply. ``desired`` may be the whole desired table or just the changed
        entries; a changed key absent from it is deleted if we own it. The periodic full :meth:`sync` still
        catches anything changed behind our back."""
        keys = set(changed)
        subset = [d for d in desired if d.key in keys]
        actual: list[ServiceState] = []
        for key in keys:
            state = await self.backend.get_service(key)
            if state is not None:
                actual.append(state)
        owned = (self.owned | {d.key for d in subset}) & keys
        plan = plan_sync(subset, actual, owned, now, self.policy,
                         {k: v for k, v in self.draining.items() if k[0] in keys})
        outcomes = await self.backend.apply_batch(plan.ops) if plan.ops else []
        result = SyncResult(planned=list(plan.ops), requests=len(plan.ops), errors=_failures(plan.ops, outcomes))
        self.draining = {k: v for k, v in self.draining.items() if k[0] not in keys} | plan.draining
        self.owned = _owned_after(self.owned, plan.ops, result.errors) | {d.key for d in subset}
        return result
