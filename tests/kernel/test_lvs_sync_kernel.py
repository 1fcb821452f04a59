"""Connection sync in the real kernel (UML): two directors with the same NAT service, the kernel's sync daemon
started through our netlink Backend (A master, B backup, syncid 7, on the back LAN), and a long-lived TCP stream
(1 kB every 10 ms) from a client through the VIP on A. A dies (its links go down, as a SIGKILLed director's VRRP
falls silent) and the VIP and the real server's gateway move to B with a gratuitous ARP, as VRRP moves them.

With the sync daemon the stream keeps flowing through B (B held the connection before the failover; no reset,
no stall); without it, in the same boot, the stream stalls (B has no connection entry): the contrast shows the
flow is the sync daemon's doing. The director processes themselves (VRRP + lvs_sync_daemon following the
instance) are not wired here: see the issue's remaining work."""

from __future__ import annotations

import pytest

from netns_lab.uml import run_in_kernel

pytestmark = pytest.mark.kernel


def test_established_stream_survives_director_failover_with_the_sync_daemon() -> None:
    run = run_in_kernel("tests.kernel.lvs_targets:sync_failover_both", {"seconds": 10, "before": 3}, timeout=240)
    assert run.returncode == 0, run.output
    res = run.result
    assert isinstance(res, dict)
    s, n = res["sync"], res["nosync"]
    rate = s["bytes_before"] / s["seconds_before"]
    rate_after = s["bytes_after"] / s["seconds_after"]
    print(f"\nwith sync: {s['bytes_before']} B in {s['seconds_before']:.1f} s before, {s['bytes_after']} B in "
          f"{s['seconds_after']:.1f} s after the director died ({rate_after / rate:.0%} of the rate), longest gap "
          f"{s['max_gap']:.2f} s, error {s['error'] or 'none'}; without sync: {n['bytes_after']} B after, last data "
          f"{n['last_data_after_s']} s after the failover")
    assert "ESTABLISHED" in s["b_connections_before"]  # the backup director learned the connection
    assert s["b_daemons"].startswith("backup sync daemon (mcast=eth1, syncid=7")
    assert s["error"] == ""  # no reset, no close
    assert s["last_data_after_s"] >= s["seconds_after"] - 1.0  # still flowing at the end
    assert rate_after >= 0.5 * rate
    # the switch (addresses move, gratuitous ARP) plus TCP's retransmission back-off: well under 3 s
    assert s["max_gap"] < 3.0
    # without the sync daemon B knows nothing of the connection: nothing flows after the failover
    assert n["b_connections_before"].count("\n") == 2
    assert n["last_data_after_s"] is None or n["last_data_after_s"] < 1.0
    assert n["bytes_after"] < 0.1 * s["bytes_after"]
