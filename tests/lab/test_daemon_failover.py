"""Our VRRP process in real namespaces: election, crash and graceful failover, preemption, nopreempt,
preempt_delay; two and three routers on one bridge.

Failover is measured from the wire (the bridge capture's kernel timestamps), never from sleeps.  Timing is
asserted loosely, against protocol bounds with generous slack (the CI machine is shared), because a timing
*goal* belongs in bench/bench_failover.py.
"""

from __future__ import annotations

import itertools
import signal
import time

import pytest

from netns_lab.capture import AdvertSeen, Capture
from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.measure import find_failover, master_down_interval, skew_time
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

VIP = "10.0.0.100"
ADVERT = 0.1  # seconds: VRRPv3 keeps the tests fast; Master_Down_Interval is 3 x 0.1 s + skew


def _master_is(cap: Capture, src: str, *, after: float, timeout: float = 5.0) -> AdvertSeen | None:
    """Wait until ``src`` sends adverts (priority > 0) after ``after`` and nobody else does for a while."""

    def settled() -> AdvertSeen | None:
        ads = [a for a in cap.adverts(51) if a.t > after and a.priority > 0]
        if not ads or ads[-1].src != src:
            return None
        tail = [a for a in ads if a.t > ads[-1].t - 4 * ADVERT]
        return ads[-1] if len(tail) >= 3 and all(a.src == src for a in tail) else None

    return wait_until(settled, timeout)  # type: ignore[no-any-return]


def test_two_routers_election_graceful_stop_preempt_and_crash(lab: Lab) -> None:
    # lb1 also runs a slow vrrp_script (it must never delay an advert), a notify script and a notify FIFO
    notify_log = lab.log_dir / "notify.log"
    notify = lab.log_dir / "notify.sh"
    notify.write_text(f'#!/bin/sh\necho "$@" >> {notify_log}\n')
    notify.chmod(0o755)
    slow = "vrrp_script slow {\n  script \"/bin/sleep 0.5\"\n  interval 0.2\n  timeout 2\n  weight 2\n}\n"
    high = keepalived_conf(
        slow,
        instance_block(priority=150, advert_int=ADVERT,
                       extra=f"  track_script {{\n    slow\n  }}\n  notify {notify}\n"),
        global_extra=f"  notify_fifo {lab.log_dir / 'notify.fifo'}\n",
    )
    low = keepalived_conf(instance_block(priority=100, advert_int=ADVERT))
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", high))
        lb2 = start_daemon(lab, DaemonSpec("lb2", low))

        # initial election: the higher priority wins, only it holds the VIP, adverts carry TTL 255
        first = _master_is(cap, "10.0.0.11", after=t0)
        assert first is not None, lb1.log()
        assert first.ttl == 255 and first.priority in (150, 152) and first.addresses == (VIP,)
        # the slow script (0.5 s runs every 0.2 s) succeeds: +2; adverts keep their 0.1 s pace meanwhile
        assert wait_until(lambda: lb1.stats()["instances"]["VI_1"]["effective_priority"] == 152, 3)
        time.sleep(1.0)
        mine = [a.t for a in cap.adverts(51) if a.src == "10.0.0.11" and a.t > first.t]
        assert len(mine) >= 8 and max(b - a for a, b in itertools.pairwise(mine)) < 2.5 * ADVERT
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"]
        assert lb2.state() == "BACKUP" and lb1.state() == "MASTER"

        # graceful stop: priority 0, VIPs gone, exit 0, pid files removed; lb2 takes over after Skew_Time
        t_stop = time.time()
        assert lb1.stop() == 0, lb1.log()
        assert not any(p.exists() for p in lb1.pid_files)
        zero = wait_until(lambda: [a for a in cap.adverts(51) if a.t > t_stop and a.priority == 0], 2)
        assert zero, "no priority-0 advert on the wire after SIGTERM"
        took = _master_is(cap, "10.0.0.12", after=t_stop)
        assert took is not None, lb2.log()
        first_new = min(a.t for a in cap.adverts(51) if a.t > zero[0].t and a.src == "10.0.0.12")
        gap = first_new - zero[0].t
        mdi = master_down_interval(3, 100, ADVERT)
        # Skew_Time is 61 ms here; Master_Down_Interval 361 ms.  "Clearly faster than MDI":
        assert gap < skew_time(3, 100, ADVERT) + 0.5 * (mdi - skew_time(3, 100, ADVERT)), gap
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"]
        assert "Entering STOP STATE" in lb1.log() and "(VI_1) removing VIPs." in lb1.log()
        # notify: keepalived's four arguments, in order of the transitions, STOP last; the FIFO is removed
        lines = notify_log.read_text().splitlines()
        assert lines[0] in ("INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 BACKUP 152"), lines
        assert "INSTANCE VI_1 MASTER 15" in lines[1] and lines[-1].startswith("INSTANCE VI_1 STOP"), lines
        assert not (lab.log_dir / "notify.fifo").exists()

        # the higher priority returns and preempts
        t_back = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", high))
        assert _master_is(cap, "10.0.0.11", after=t_back) is not None, lb1.log()
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"]
        assert lb1.stats()["instances"]["VI_1"]["stats"]["new_master_reason"] == "preempted"

        # crash (SIGKILL): lb2 takes over after Master_Down_Interval (no priority-0 advert this time)
        time.sleep(3 * ADVERT)
        t_kill = time.time()
        lb1.kill()
        assert _master_is(cap, "10.0.0.12", after=t_kill) is not None, lb2.log()
        fo = find_failover(cap.adverts(51), 51, after=t_kill, old_master="10.0.0.11")
        assert fo is not None and fo.new_master == "10.0.0.12"
        assert not [a for a in cap.adverts(51) if t_kill - 0.05 < a.t < fo.first_new and a.priority == 0]
        # bounded both ways: never before MDI (a premature takeover is a protocol bug), not much after it
        assert fo.master_down_interval - 0.01 < fo.gap < fo.master_down_interval + 0.25, fo
        assert lb2.state() == "MASTER"

        # the crashed router left its VIP behind; restarted as a Backup it removes it (keepalived does too)
        assert wait_vip_holders(lab, VIP, ["lb1", "lb2"]) == ["lb1", "lb2"]
        lb1 = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=50, advert_int=ADVERT))))
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"], lb1.log()
        assert lb1.state() == "BACKUP"
        lb2.stop()


def test_three_routers_nopreempt_preempt_delay_and_second_best_takes_over(lab: Lab) -> None:
    lb1_conf = keepalived_conf(instance_block(priority=100, advert_int=ADVERT))
    lb2_conf = keepalived_conf(instance_block(priority=150, advert_int=ADVERT, extra="  preempt_delay 1\n"))
    rs1_conf = keepalived_conf(instance_block(priority=200, advert_int=ADVERT, extra="  nopreempt\n"))
    hosts = ("lb1", "lb2", "rs1")
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", lb1_conf))
        assert _master_is(cap, "10.0.0.11", after=t0) is not None, lb1.log()

        # nopreempt: rs1 outranks lb1 but leaves it Master
        rs1 = start_daemon(lab, DaemonSpec("rs1", rs1_conf))
        assert wait_until(lambda: "Entering BACKUP STATE" in rs1.log(), 5), rs1.log()
        time.sleep(10 * ADVERT)
        assert rs1.state() == "BACKUP"
        assert {a.src for a in cap.adverts(51) if a.priority > 0} == {"10.0.0.11"}

        # preempt_delay 1 s: lb2 outranks lb1 and preempts, but not before the delay has passed
        t_lb2 = time.time()
        lb2 = start_daemon(lab, DaemonSpec("lb2", lb2_conf))
        took = _master_is(cap, "10.0.0.12", after=t_lb2, timeout=8)
        assert took is not None, lb2.log()
        first_lb2 = min(a.t for a in cap.adverts(51) if a.src == "10.0.0.12" and a.priority > 0)
        lb2_backup = wait_until(lambda: "Entering BACKUP STATE" in lb2.log(), 1)
        assert lb2_backup
        assert first_lb2 - t_lb2 >= 1.0, first_lb2 - t_lb2  # the delay plus at least one MDI
        assert rs1.state() == "BACKUP"
        assert wait_vip_holders(lab, VIP, ["lb2"], hosts=hosts) == ["lb2"]

        # lb2 crashes: of the two Backups the higher priority (rs1, 200) takes over, not lb1
        t_kill = time.time()
        lb2.kill()
        assert _master_is(cap, "10.0.0.21", after=t_kill) is not None, rs1.log()
        masters_after = {a.src for a in cap.adverts(51) if a.t > t_kill and a.priority > 0}
        assert masters_after == {"10.0.0.21"}, masters_after
        assert lb1.state() == "BACKUP"
        # lb2's VIP stays in its (crashed) namespace, rs1 adds its own; lb1 never took it
        assert "lb1" not in wait_vip_holders(lab, VIP, ["lb2", "rs1"], hosts=hosts)
        for d in (lb1, rs1):
            d.signal(signal.SIGTERM)
        assert lb1.wait(5) == 0 and rs1.wait(5) == 0
