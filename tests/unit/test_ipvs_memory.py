"""The memory backend's kernel semantics, case by case (the kernel-tier differential test checks the same
against Linux on random sequences; these pin the individual rules and their errnos)."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable

import pytest

from ipvs.errors import IPVSError
from ipvs.memory import MemoryBackend
from ipvs.model import (
    AF_INET6,
    Destination,
    Forward,
    Service,
    ServiceKey,
    TunType,
)

KEY = ServiceKey.inet(6, "10.0.0.100", 80)


def _errno(coro: Awaitable[None]) -> int:
    async def go() -> int:
        try:
            await coro
        except IPVSError as e:
            return int(e.errno or 0)
        return 0

    return asyncio.run(go())


@pytest.fixture
def backend() -> MemoryBackend:
    b = MemoryBackend(schedulers=("rr", "wlc", "sh"))
    asyncio.run(b.add_service(Service(KEY, "rr")))
    asyncio.run(b.add_dest(KEY, Destination.of("10.1.0.1", 80)))
    return b


@pytest.mark.parametrize(
    ("make", "want"),
    [
        (lambda b: b.add_service(Service(KEY, "wlc")), errno.EEXIST),
        (lambda b: b.add_service(Service(ServiceKey.inet(6, "10.0.0.1", 1), "twos")), errno.ENOENT),
        (lambda b: b.add_service(Service(ServiceKey.inet(6, "10.0.0.1", 1), pe_name="x")), errno.ENOENT),
        (lambda b: b.add_service(Service(ServiceKey.inet(6, "fd00::1", 1), netmask=0)), errno.EINVAL),
        (lambda b: b.add_service(Service(ServiceKey.mark(3, AF_INET6), netmask=129)), errno.EINVAL),
        (lambda b: b.edit_service(Service(ServiceKey.inet(6, "10.0.0.1", 1))), errno.ESRCH),
        (lambda b: b.edit_service(Service(KEY, "nope")), errno.ENOENT),
        (lambda b: b.delete_service(ServiceKey.mark(9)), errno.ESRCH),
        (lambda b: b.add_dest(ServiceKey.mark(9), Destination.of("10.1.0.2", 80)), errno.ESRCH),
        (lambda b: b.add_dest(KEY, Destination.of("10.1.0.1", 80)), errno.EEXIST),
        (lambda b: b.add_dest(KEY, Destination.of("10.1.0.2", 80, weight=2**31)), errno.ERANGE),
        (lambda b: b.add_dest(KEY, Destination.of("10.1.0.2", 80, l_threshold=1)), errno.ERANGE),
        (lambda b: b.add_dest(KEY, Destination.of("10.1.0.2", 80, tun_type=TunType.GUE)), errno.EINVAL),
        (lambda b: b.add_dest(KEY, Destination.of("224.0.0.1", 80)), errno.EINVAL),
        (lambda b: b.add_dest(KEY, Destination.of("fd00::2", 80)), errno.EINVAL),
        (lambda b: b.add_dest(KEY, Destination.of("fd00::2", 80, forward=Forward.TUNNEL)), 0),
        (lambda b: b.add_dest(KEY, Destination.of("127.0.0.1", 80)), 0),  # local addresses are fine
        (lambda b: b.edit_dest(KEY, Destination.of("10.1.0.9", 80)), errno.ENOENT),
        (lambda b: b.edit_dest(KEY, Destination.of("10.1.0.1", 80, weight=7)), 0),
        (lambda b: b.delete_dest(KEY, Destination.of("10.1.0.1", 81).key), errno.ENOENT),
        (lambda b: b.delete_dest(ServiceKey.mark(9), Destination.of("10.1.0.1", 80).key), errno.ESRCH),
        (lambda b: b.zero(ServiceKey.mark(9)), errno.ESRCH),
    ],
)
def test_kernel_errnos(backend: MemoryBackend, make: object, want: int) -> None:
    assert _errno(make(backend)) == want  # type: ignore[operator]


def test_errors_carry_ipvsadm_messages() -> None:
    e = IPVSError(errno.ENOENT, "delete_dest")
    assert e.message == "No such destination"
    assert IPVSError(errno.ENOENT, "add_service").message == "Scheduler or persistence engine not found"
    assert IPVSError(errno.EINVAL, "add_dest").message.startswith("Invalid operation.")
    assert not e.transient and IPVSError(errno.ENOBUFS, "add_dest").transient


def test_destinations_are_listed_newest_first_like_the_kernel(backend: MemoryBackend) -> None:
    asyncio.run(backend.add_dest(KEY, Destination.of("10.1.0.2", 80)))
    [svc] = asyncio.run(backend.list_services())
    assert [d.dest.key.addr for d in svc.dests] == ["10.1.0.2", "10.1.0.1"]


def test_batch_reports_each_failure_and_keeps_going(backend: MemoryBackend) -> None:
    from ipvs.ops import Op

    ops = [Op.add_service(Service(KEY)), Op.add_dest(KEY, Destination.of("10.1.0.3", 80))]
    res = asyncio.run(backend.apply_batch(ops))
    assert isinstance(res[0], IPVSError) and res[0].errno == errno.EEXIST and res[1] is None
