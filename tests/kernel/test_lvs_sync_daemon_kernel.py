"""``lvs_sync_daemon`` through the real daemon, in the real kernel (UML): two directors each running
``pykeepalived`` (watchdog, VRRP child, checker child) from one keepalived.conf with
``lvs_sync_daemon eth1 VI_1 id 7``; a long-lived TCP stream (1 kB every 10 ms) from a client through the VIP.

SIGKILL of the master director's whole daemon (watchdog and children: nothing cleaned up): the backup takes over
(VRRP), its sync daemon turns master, it announces the VIP and the real server's gateway, and the stream goes on
through it, both ways, with no reset; at the end it stops cleanly and its sync daemon stops with it. The sync
daemons of each namespace are read back over generic netlink at each step (and listed as ``ipvsadm -L --daemon``
prints them). That the sync daemon is what keeps the stream alive (without it the stream stalls) is shown in
test_lvs_sync_kernel.py; a restarted daemon replacing a stale daemon of the wrong role, in
tests/unit/test_lvs_sync_daemon.py (the plan property)."""

from __future__ import annotations

import pytest

from netns_lab.uml import run_in_kernel

pytestmark = pytest.mark.kernel


def test_the_stream_survives_a_sigkilled_master_director_through_the_daemons_sync_daemon(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETNS_LAB_UML_MEM", "1G")  # two daemons of three interpreters each, plus the lab
    run = run_in_kernel("tests.kernel.lvs_daemon_targets:sync_daemon_failover", {"before": 3, "after": 4},
                        timeout=300)
    assert run.returncode == 0, run.output
    r = run.result
    assert isinstance(r, dict)
    per = r["per_100ms"]
    killed = r["killed"]
    before = [n for t, n in per if t / 10 < killed]
    after = [n for t, n in per if t / 10 >= killed]
    start, end = per[0][0] / 10, r["t_end"]
    rate_before, rate_after = sum(before) / (killed - start), sum(after) / (end - killed)
    print(f"\nlb2 MASTER {r['lb2_master_after_s']:.2f} s after the SIGKILL of lb1's daemon; stream {r['bytes']} B, "
          f"longest gap {r['max_gap']:.2f} s, error {r['error'] or 'none'}; {rate_before:.0f} B/s before, "
          f"{rate_after:.0f} B/s after; packets in/out through lb2 after the kill {r['lb2_packets']}")
    # the sync daemons follow VRRP: master on the MASTER, backup on the BACKUP, read back over genetlink
    assert r["roles_start"] == {"lb1": ["master"], "lb2": ["backup"]}
    assert "master sync daemon (mcast=eth1, syncid=7" in r["daemon_listing_lb1"]
    assert "backup sync daemon (mcast=eth1, syncid=7" in r["daemon_listing_lb2"]
    assert "ESTABLISHED" in r["lb2_connections_before"]  # lb2 learnt the stream from lb1's master daemon
    assert r["roles_after_kill"] == {"lb2": ["master"]}
    assert r["lb1_after_kill"] == ["master"]  # a SIGKILLed daemon cleans nothing up: the kernel keeps it
    assert r["lb2_after_stop"] == []  # stopped at exit
    # the stream: never reset, carried by lb2 both ways after the switch, at a comparable rate
    assert r["error"] == ""
    assert min(r["lb2_packets"]) > 50
    assert rate_after >= 0.5 * rate_before
    assert per[-1][0] / 10 >= end - 1.0  # still flowing at the end
    assert r["max_gap"] < 5.0
