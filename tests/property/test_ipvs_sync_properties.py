"""Sync engine properties on the memory backend (the kernel-tier twin is tests/kernel/test_ipvs_kernel.py):
convergence with the minimal number of writes, idempotence, foreign services untouched, retries after
transient netlink errors, reporting and later convergence after hard errors, draining."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ipvs.errors import IPVSError
from ipvs.memory import MemoryBackend
from ipvs.model import DesiredService, Destination, DestState, Service, ServiceKey, ServiceState
from ipvs.ops import Op, OpKind
from ipvs.sync import SyncEngine, SyncPolicy, plan_sync
from tests.kernel.ipvs_strategies import FWMARKS, desired_tables, expected_writes, service_keys


def _ours(k: ServiceKey) -> bool:
    return k.fwmark in FWMARKS[:2] or k.addr.startswith(("10.", "fd00"))


OURS = service_keys.filter(_ours)
FOREIGN = service_keys.filter(lambda k: not _ours(k))


def config(services: Sequence[ServiceState]) -> dict[ServiceKey, tuple[Service, frozenset[Destination]]]:
    return {s.key: (s.service, frozenset(d.dest for d in s.dests)) for s in services}


def desired_config(desired: Sequence[DesiredService]) -> dict[ServiceKey, tuple[Service, frozenset[Destination]]]:
    return {d.key: (d.service, frozenset(d.dests)) for d in desired}


async def build(backend: MemoryBackend, table: Sequence[DesiredService]) -> None:
    ops: list[Op] = []
    for d in table:
        ops.append(Op.add_service(d.service))
        ops.extend(Op.add_dest(d.key, x) for x in d.dests)
    assert not any(await backend.apply_batch(ops))


@settings(max_examples=150, deadline=None)
@given(desired_tables(OURS), desired_tables(OURS), desired_tables(FOREIGN, max_services=3))
def test_sync_converges_minimally_idempotently_and_leaves_foreign_services_alone(
    actual: list[DesiredService], desired: list[DesiredService], foreign: list[DesiredService]
) -> None:
    async def go() -> None:
        backend = MemoryBackend()
        await build(backend, actual + foreign)
        engine = SyncEngine(backend)
        engine.owned = {d.key for d in actual}
        before = backend.ops_applied
        result = await engine.sync(desired, now=0.0)
        assert result.ok
        assert result.writes == expected_writes(desired, actual) == backend.ops_applied - before
        table = config(await backend.list_services())
        assert table == desired_config(desired) | desired_config(foreign)
        again = await engine.sync(desired, now=1.0)
        assert again.writes == 0 and backend.ops_applied - before == result.writes

    asyncio.run(go())


@settings(max_examples=60, deadline=None)
@given(desired_tables(OURS), desired_tables(FOREIGN, max_services=3))
def test_a_fresh_engine_never_deletes_what_it_does_not_own(
    desired: list[DesiredService], foreign: list[DesiredService]
) -> None:
    async def go() -> None:
        backend = MemoryBackend()
        await build(backend, foreign)
        engine = SyncEngine(backend)
        assert (await engine.sync(desired, now=0.0)).ok
        assert (await engine.sync([], now=1.0)).ok  # we drop everything we programmed...
        assert config(await backend.list_services()) == desired_config(foreign)  # ...and only that

    asyncio.run(go())


class FlakyBackend(MemoryBackend):
    """Fails chosen operations: ``transient`` fail with ENOBUFS that many times, ``hard`` always with EINVAL."""

    def __init__(self, transient: int = 0, hard: set[str] | None = None) -> None:
        super().__init__()
        self.transient = transient
        self.hard = hard or set()

    async def apply_batch(self, ops: Sequence[Op]) -> list[BaseException | None]:
        out: list[BaseException | None] = []
        for op in ops:
            if self.transient > 0:
                self.transient -= 1
                out.append(IPVSError(errno.ENOBUFS, op.kind.value))
            elif op.dest is not None and op.dest.key.addr in self.hard:
                out.append(IPVSError(errno.EINVAL, op.kind.value))
            else:
                out.extend(await super().apply_batch([op]))
        return out


@settings(max_examples=60, deadline=None)
@given(desired_tables(OURS).filter(lambda t: any(d.dests for d in t)), st.integers(1, 5))
def test_transient_errors_are_retried_within_the_same_sync(desired: list[DesiredService], fails: int) -> None:
    async def go() -> None:
        backend = FlakyBackend(transient=fails)
        result = await SyncEngine(backend, SyncPolicy(retries=fails)).sync(desired, now=0.0)
        assert result.ok, result.errors
        assert config(await backend.list_services()) == desired_config(desired)
        assert result.requests >= expected_writes(desired, []) + 1

    asyncio.run(go())


def test_hard_errors_are_reported_and_the_next_sync_converges() -> None:
    key = ServiceKey.inet(6, "10.0.0.100", 80)
    good, bad = Destination.of("10.1.0.1", 80), Destination.of("10.1.0.66", 80)
    desired = [DesiredService(Service(key, "rr"), (good, bad))]
    backend = FlakyBackend(hard={"10.1.0.66"})
    engine = SyncEngine(backend)
    result = asyncio.run(engine.sync(desired, now=0.0))
    assert [(op.kind, op.dest.key if op.dest else None) for op, _ in result.errors] == [(OpKind.ADD_DEST, bad.key)]
    assert result.errors[0][1].errno == errno.EINVAL
    backend.hard.clear()  # the cause goes away (e.g. the route appears)
    second = asyncio.run(engine.sync(desired, now=1.0))
    assert second.ok and [op.kind for op in second.planned] == [OpKind.ADD_DEST]


def test_draining_sets_weight_zero_then_deletes_after_the_timeout_or_when_idle() -> None:
    key = ServiceKey.inet(6, "10.0.0.100", 80)
    a, b, c = (Destination.of(f"10.1.0.{i}", 80, weight=5) for i in (1, 2, 3))
    svc = Service(key, "wrr")
    actual = [ServiceState(svc, (DestState(a), DestState(b, active_conns=2), DestState(c, inact_conns=1)))]
    policy = SyncPolicy(drain=True, drain_timeout=60)
    plan = plan_sync([DesiredService(svc, (a,))], actual, {key}, now=100.0, policy=policy)
    assert [(op.kind, op.dest.weight if op.dest else None) for op in plan.ops] == [
        (OpKind.EDIT_DEST, 0), (OpKind.EDIT_DEST, 0)]
    assert set(plan.draining.values()) == {100.0}
    drained: list[Any] = [ServiceState(svc, (DestState(a), DestState(b.with_(weight=0), active_conns=2),
                                              DestState(c.with_(weight=0))))]
    later = plan_sync([DesiredService(svc, (a,))], drained, {key}, now=130.0, policy=policy,
                      draining=plan.draining)
    assert [(op.kind, op.dest_key) for op in later.ops] == [(OpKind.DELETE_DEST, c.key)]  # c went idle
    expired = plan_sync([DesiredService(svc, (a,))], drained, {key}, now=160.0, policy=policy,
                        draining=later.draining)
    assert {op.dest_key for op in expired.ops} == {b.key, c.key}
    back = plan_sync([DesiredService(svc, (a, b))], drained, {key}, now=170.0, policy=policy,
                     draining=later.draining)
    assert [(op.kind, op.dest.weight if op.dest else None) for op in back.ops] == [
        (OpKind.DELETE_DEST, None), (OpKind.EDIT_DEST, 5)]


@settings(max_examples=80, deadline=None)
@given(desired_tables(OURS), desired_tables(OURS), st.data())
def test_sync_changed_touches_only_the_named_services_and_matches_a_full_sync(
    before: list[DesiredService], after: list[DesiredService], data: st.DataObject
) -> None:
    keys = sorted({d.key for d in before} | {d.key for d in after})
    changed = set(data.draw(st.lists(st.sampled_from(keys), unique=True))) if keys else set()

    async def go() -> None:
        backend = MemoryBackend()
        engine = SyncEngine(backend)
        assert (await engine.sync(before, now=0.0)).ok
        res = await engine.sync_changed(after, changed, now=1.0)
        assert res.ok
        got = config(await backend.list_services())
        want = {k: v for k, v in desired_config(before).items() if k not in changed}
        want |= {k: v for k, v in desired_config(after).items() if k in changed}
        assert got == want
        # a full sync from the same start to the same goal ends in the same table with the same writes
        full = SyncEngine(MemoryBackend())
        assert (await full.sync(before, now=0.0)).ok
        merged = [d for d in before if d.key not in changed] + [d for d in after if d.key in changed]
        full_res = await full.sync(merged, now=1.0)
        assert full_res.ok and res.writes == full_res.writes
        assert config(await full.backend.list_services()) == got

    asyncio.run(go())
