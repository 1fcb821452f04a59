"""The batched TCP connector (TCP_CHECK's fast path in the driver) against real loopback servers: it must find
exactly what the one-probe path (``run_probe`` -> ``checkers.io.tcp``) finds, in the same words, keep the hard
timeout, and the driver must keep its in-flight bound with it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from checkers.core.machine import LogLine, Verdict, WeightChanged
from checkers.core.spec import BOOTSTRAP_DELAY, CheckSpec, ProbeResult, Target, TcpProbe, Timing
from checkers.io.connector import TcpConnector
from checkers.io.driver import CheckerDriver
from checkers.io.probes import run_probe
from netns_lab.servers import closed_port, http_server, unanswered_port

LO = "127.0.0.1"


@contextlib.asynccontextmanager
async def _no_server() -> AsyncIterator[int]:
    yield closed_port(LO)


def _live() -> Any:
    return http_server(LO, {})


async def _connect_all(targets: list[Target], timeout: float) -> dict[str, ProbeResult]:
    got: dict[str, ProbeResult] = {}
    conn = TcpConnector(lambda key, res: got.__setitem__(key, res))
    conn.open()
    try:
        for i, t in enumerate(targets):
            conn.connect(str(i), t, timeout)
        assert not got, "results come from the loop, never from inside connect()"
        async with asyncio.timeout(timeout + 5):
            while len(got) < len(targets):
                await asyncio.sleep(0.01)
        assert conn.pending == 0
    finally:
        conn.close()
    return got


@pytest.mark.parametrize(("server", "target_of"), [
    (_live, lambda p: Target(LO, p)),
    (_no_server, lambda p: Target(LO, p)),
    (lambda: unanswered_port(LO), lambda p: Target(LO, p)),
    (lambda: http_server("::1", {}), lambda p: Target("::1", p, bindto="::1", fwmark=7)),
    (_live, lambda p: Target(LO, p, bindto="192.0.2.7")),  # an address we do not have: bind fails
], ids=["live", "refused", "hung", "ipv6-bindto-fwmark", "bind-fails"])
def test_connector_finds_what_the_probe_finds(server: Callable[[], Any], target_of: Callable[[int], Target]) -> None:
    async def go() -> tuple[ProbeResult, ProbeResult]:
        async with server() as port:
            target = target_of(port)
            spec = CheckSpec("k", "TCP_CHECK", target, TcpProbe(), Timing(connect_timeout=0.3))
            slow = await run_probe(spec)
            fast = (await _connect_all([target], 0.3))["0"]
        return slow, fast

    slow, fast = asyncio.run(go())
    assert fast == slow


def test_many_connects_hung_ones_time_out_and_block_none() -> None:
    """500 live and 100 hung connects at once: every live one passes, every hung one fails by its deadline."""
    async def go() -> dict[str, ProbeResult]:
        async with _live() as good, unanswered_port(LO) as hung:
            return await _connect_all([Target(LO, good)] * 500 + [Target(LO, hung)] * 100, 0.5)

    got = asyncio.run(go())
    assert all(got[str(i)].ok for i in range(500))
    assert all(got[str(i)] == ProbeResult(False, "Timeout connecting") for i in range(500, 600))


def test_driver_keeps_its_in_flight_bound_with_the_connector() -> None:
    """20 checks toward a port whose connects hang, at most 3 probes at once: never more than 3 sockets, every
    check still fails in turn (the waiting ones show as lateness), nothing is left after stop."""
    async def go() -> tuple[list[Verdict | WeightChanged | LogLine], int, CheckerDriver]:
        got: list[Verdict | WeightChanged | LogLine] = []
        async with unanswered_port(LO) as hung:
            driver = CheckerDriver(got.append, max_in_flight=3)
            t = Timing(delay_loop=5.0, connect_timeout=0.2, retry=0, warmup=0)
            driver.add([CheckSpec(f"c{i}", "TCP_CHECK", Target(LO, hung), TcpProbe(), t, name=f"c{i}")
                        for i in range(20)])
            runner = asyncio.create_task(driver.run())
            most = 0
            async with asyncio.timeout(BOOTSTRAP_DELAY + 10):
                while sum(isinstance(a, Verdict) for a in got) < 20:
                    most = max(most, driver.in_flight)
                    await asyncio.sleep(0.01)
            driver.stop()
            await runner
        return got, most, driver

    got, most, driver = asyncio.run(go())
    assert 0 < most <= 3
    assert {a.key for a in got if isinstance(a, Verdict) and not a.up} == {f"c{i}" for i in range(20)}
    assert driver.in_flight == 0
    assert max(driver.lateness) >= 0.2 * (20 // 3 - 1)  # the last ones waited for several rounds of 3
    assert min(driver.lateness) >= 0


def test_a_late_loop_never_turns_completed_connects_into_timeouts(monkeypatch: pytest.MonkeyPatch) -> None:
    """2,500 connects to a listener that accepts nothing (the kernel completes the handshakes into its backlog),
    then the loop stalls past their deadline (as a long reload step or a saturated CPU does): the completions and
    the timeout timer come due together, and every connect is a success — the timer reads all completions first,
    in batches (BATCH lowered so 2,500 take three), not only the first ``epoll_wait`` worth."""
    import resource
    import socket
    import time

    from checkers.io import connector

    n = 2_500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        if hard != resource.RLIM_INFINITY and hard < n + 200:
            pytest.skip(f"needs {n + 200} descriptors, the hard limit is {hard}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (n + 200, hard))
    monkeypatch.setattr(connector, "BATCH", 1_000)

    async def go() -> dict[str, ProbeResult]:
        got: dict[str, ProbeResult] = {}
        conn = TcpConnector(lambda key, res: got.__setitem__(key, res))
        with socket.socket() as server:
            server.bind((LO, 0))
            server.listen(4096)
            target = Target(LO, server.getsockname()[1])
            conn.open()
            try:
                for i in range(n):
                    conn.connect(str(i), target, 0.05)
                time.sleep(0.3)  # the loop is late: every deadline has passed before it looks at anything
                async with asyncio.timeout(10):
                    while len(got) < n:
                        await asyncio.sleep(0.01)
            finally:
                conn.close()
        return got

    try:
        got = asyncio.run(go())
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    failed = sorted({r.reason for r in got.values() if not r.ok})
    assert len(got) == n
    assert not failed, f"{sum(not r.ok for r in got.values())} of {n} completed connects reported as {failed}"
