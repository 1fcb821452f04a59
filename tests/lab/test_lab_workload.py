"""Real servers answer with their host's name; the client workload records every request's outcome and time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from netns_lab.lab import Lab
from netns_lab.topology import Topology
from netns_lab.workload import client_argv, read_requests, server_argv

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("protocol", ["tcp", "http"])
def test_client_sees_the_server_then_its_outage(lab_factory: Callable[..., Lab], protocol: str) -> None:
    lab = lab_factory(Topology.default())
    server = lab.start("rs1", server_argv(protocol, 8080, "rs1"), name="server")
    deadline = time.monotonic() + 10
    while "ready" not in server.log_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    out = lab.log_dir / f"client-{protocol}.jsonl"
    t0 = time.time()
    client = lab.start("client", client_argv("fd00::21", 8080, out, protocol=protocol, rate=20, timeout=0.3))
    time.sleep(1.5)
    server.kill()
    stopped = time.time()
    time.sleep(1.5)
    client.stop()
    reqs = read_requests(Path(out), t0, client="client", target="[fd00::21]:8080")
    before = [r for r in reqs if r.t < (stopped - t0) * 1e6 - 200_000]
    after = [r for r in reqs if r.t > (stopped - t0) * 1e6 + 200_000]
    assert len(reqs) >= 40, f"20 requests a second for 3 s, got {len(reqs)}"
    assert before and all(r.ok and r.server == "rs1" for r in before), before[:3]
    assert after and not any(r.ok for r in after) and all(r.error for r in after), after[:3]
    assert all(r.done >= r.t for r in reqs)
