"""IPVS against the real kernel (inside User-Mode Linux when the host has no IPVS).

Each test is one ``run_in_kernel`` call (one boot) running a whole Hypothesis loop or scenario inside; the
targets live in ``tests/kernel/ipvs_targets.py``. Example counts are bounded so the four tests stay well under
four minutes together on two cores.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest

from netns_lab.uml import run_in_kernel
from tests.kernel.ipvs_targets import IPVS_ALL_MODULES

pytestmark = pytest.mark.kernel


def _run(target: str, payload: dict[str, object], timeout: float = 240) -> object:
    run = run_in_kernel(f"tests.kernel.ipvs_targets:{target}", payload, modules=IPVS_ALL_MODULES,
                        timeout=timeout)
    assert run.returncode == 0, run.output
    return run.result


def test_memory_backend_matches_kernel_on_random_operation_sequences() -> None:
    """Same errno for every operation and the same final table, one op at a time and pipelined."""
    result = _run("differential", {"examples": 150})
    assert isinstance(result, dict)
    assert result["examples"] == 150
    # the sequences really exercise the error paths: duplicates, missing entries, invalid values
    assert {"2", "3", "17", "22", "34"} <= set(result["errors"])


def test_pyipvsadm_output_is_byte_identical_to_ipvsadm_and_restore_reproduces() -> None:
    """-Ln, -Ln --stats, -S -n (and --rate/--thresholds/--persistent-conn/--exact) on random tables; then
    pyipvsadm -R < ipvsadm -S -n rebuilds the same rules; and the console script once, as a process."""
    result = _run("formats", {"examples": 30})
    assert isinstance(result, dict)
    assert result["examples"] == 30 and result["dests"] > 0


def test_sync_engine_converges_with_minimal_operations_and_leaves_foreign_services_alone() -> None:
    result = _run("sync_converges", {"examples": 80})
    assert isinstance(result, dict)
    assert result["examples"] == 80 and result["writes"] > 0


def test_real_tcp_traffic_follows_the_scheduler_through_nat_and_dr() -> None:
    n = 60
    result = _run("traffic", {"connections": n})
    assert isinstance(result, dict)
    # minimal writes: 2 services + 3 + 3 destinations, then 2 scheduler edits + 2 weight edits (nat2, nat3)
    assert result["writes_initial"] == 8
    assert result["writes_wrr_sh"] == 4
    names = lambda key: Counter(name for _, name in result[key])  # noqa: E731
    assert names("nat_rr") == {"nat1": n // 3, "nat2": n // 3, "nat3": n // 3}
    assert names("dr_rr") == {"dr1": n // 3, "dr2": n // 3, "dr3": n // 3}
    assert names("nat_wrr") == {"nat1": n // 6, "nat2": 2 * n // 6, "nat3": 3 * n // 6}
    by_source: dict[str, set[str]] = defaultdict(set)
    for src, name in result["dr_sh"]:
        by_source[src].add(name)
    assert len(by_source) == 8
    assert all(len(rs) == 1 for rs in by_source.values()), by_source  # sh: a source always hits one server
    assert len(set().union(*by_source.values())) >= 2  # ... and sources are spread over servers
    # counters after real traffic (non-zero, multi-digit) print identically
    assert result["pyipvsadm_stats"] == result["ipvsadm_stats"]
    first_service = result["ipvsadm_stats"].splitlines()[3].split()
    assert int(first_service[2]) == 2 * n  # Conns of the NAT service: the rr and the wrr rounds


def test_sync_daemon_commands_and_connection_listing_match_ipvsadm() -> None:
    """--start-daemon/--stop-daemon (every option, and the kernel's refusals) give ipvsadm's exit status and
    message on the kernel and on the memory oracle, and -L --daemon prints ipvsadm's bytes (the kernel's defaults
    filled in alike); -Lnc after real NAT traffic prints ipvsadm's bytes."""
    result = _run("sync_daemons_and_connections", {"requests": 20})
    assert isinstance(result, dict)
    for step in result["daemons"]:
        want_rc, want_err, want_list = step["ipvsadm"]
        for side in ("kernel", "memory"):
            rc, err, listing = step[side]
            assert rc == want_rc, (side, step)
            assert listing == want_list, (side, step)
            if rc == 255:  # a kernel refusal: ipvsadm's wording
                assert err == want_err, (side, step)
    assert any("backup sync daemon (mcast=dummy0, syncid=9, maxlen=1024, group=239.1.2.3, port=9000, ttl=3)"
               in step["ipvsadm"][2] for step in result["daemons"])
    for argv, tries in result["connections"].items():
        before, ours, after = tries[-1]
        assert ours in (before, after), f"pyipvsadm {argv} differs:\n--- ipvsadm\n{before}--- ours\n{ours}"
        assert ours.count("TIME_WAIT") >= 10, ours  # real connections were listed
