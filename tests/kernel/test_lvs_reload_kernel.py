"""Checker-child reload in the real kernel (UML), through the real daemon (``pykeepalived -C -n -f FILE``: the
watchdog forwards SIGHUP to its checker child) with a client sending a GET every 20 ms through the VIP.

SIGHUP 20 times with the file unchanged: every reload reports 0 IPVS writes, every destination keeps its
connection count (one deleted and added again would start from 0) and no request fails. Then a SIGHUP adding a
virtual server (it appears with its live real servers), one removing it (it goes; the first service's entries
stay untouched), and one with a file that cannot run: refused with its file:line, the running table stays."""

from __future__ import annotations

import pytest

from netns_lab.uml import run_in_kernel

pytestmark = pytest.mark.kernel

SERVERS = {"10.2.1.2:80", "10.2.2.2:80", "10.2.3.2:80"}


def test_sighup_reloads_the_checker_child_with_minimal_ipvs_writes_under_traffic() -> None:
    run = run_in_kernel("tests.kernel.lvs_daemon_targets:reload_under_traffic", {"n": 20}, timeout=300)
    assert run.returncode == 0, run.output
    r = run.result
    assert isinstance(r, dict)
    during = [c for c in r["client"] if r["sighup_start"] <= c[0] <= r["sighup_end"]]
    failed = [c for c in r["client"] if not c[1]]
    print(f"\n20 SIGHUPs in {r['sighup_end'] - r['sighup_start']:.1f} s, {len(during)} requests meanwhile, "
          f"{len(failed)} failed of {len(r['client'])}; unchanged: {r['reload_lines'][0]!r} (x20); add: "
          f"{r['reload_lines'][20]!r}; remove: {r['reload_lines'][21]!r}")
    unchanged = r["reload_lines"][:20]
    assert len(unchanged) == 20 and all(line.endswith(" 0 IPVS writes") for line in unchanged), unchanged
    assert all(" 0 (re)started" in line for line in unchanged)
    before, after = r["table_before"]["10.1.0.100:80"], r["table_after_unchanged"]["10.1.0.100:80"]
    assert set(before) == set(after) == SERVERS
    assert all(after[d] >= before[d] for d in SERVERS), (before, after)  # never deleted and added again
    assert sum(after.values()) > sum(before.values())  # the traffic went on through them
    assert len(during) > 20 and not failed
    # add, remove: only the difference is written; the first service is never touched
    assert set(r["table_added"]) == {"10.1.0.100:80", "10.1.0.100:8080"}
    assert set(r["table_added"]["10.1.0.100:8080"]) == {"10.2.1.2:80", "10.2.2.2:80"}
    assert r["reload_lines"][20].endswith(" 3 IPVS writes")  # the service and its two destinations
    assert set(r["table_removed"]) == {"10.1.0.100:80"}
    assert r["reload_lines"][21].endswith(" 1 IPVS writes")  # deleting the service takes its destinations
    assert r["removing"] == ["Removing Virtual Server [10.1.0.100]:tcp:8080"]
    kept = r["table_removed"]["10.1.0.100:80"]
    assert all(kept[d] >= after[d] for d in SERVERS)
    # a file that cannot run: refused with file:line; nothing changes
    assert len(r["reload_lines"]) == 22
    assert any("keepalived.conf:24: HTTP_GET has no url block" in line for line in r["errors"]), r["errors"]
    assert any("Reload failed: keeping the running configuration" in line for line in r["errors"])
    assert set(r["table_broken"]) == {"10.1.0.100:80"} and set(r["table_broken"]["10.1.0.100:80"]) == SERVERS
    assert r["exit"] == 0 and r["table_after_exit"] == {}
