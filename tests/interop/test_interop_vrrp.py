"""Interop with real keepalived 2.2.7 (Debian's /usr/sbin/keepalived) in the namespace lab.

Each scenario runs one of ours and one keepalived on the same bridge, in both roles, and fails over in both
directions (graceful stop and SIGKILL), so each side decodes the other's adverts: VRRPv3 with either IPv4
checksum form (keepalived's default with the pseudo-header, and ``v3_checksum_as_v2``), VRRPv2 with PASS
authentication.  A mismatched VRID or password must be ignored by both (each becomes Master).

keepalived runs with its own pid files (``-p/-r/-c`` under the test's directory) and never reads
/etc/keepalived.  Truth comes from the wire (bridge capture) and from who holds the VIP.
"""

from __future__ import annotations

import time

import pytest

from netns_lab.capture import Capture
from netns_lab.daemons import (
    Daemon,
    DaemonSpec,
    instance_block,
    keepalived_conf,
    start_daemon,
    vip_holders,
    wait_vip_holders,
)
from netns_lab.lab import Lab
from netns_lab.measure import master_down_interval, skew_time
from netns_lab.waiting import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.lab]

VIP = "10.0.0.100"
IP = {"lb1": "10.0.0.11", "lb2": "10.0.0.12"}


def _sender_is(cap: Capture, vrid: int, src: str, after: float, timeout: float) -> bool:
    def ok() -> bool:
        ads = [a for a in cap.adverts(vrid) if a.t > after and a.priority > 0]
        return len(ads) >= 2 and all(a.src == src for a in ads[-2:])

    return bool(wait_until(ok, timeout))


SCENARIOS = {
    # name: (version, advert_int, extra instance lines, extra global_defs lines) for both sides.
    "v3": (3, 0.1, "", ""),
    "v2-pass": (2, 1.0, "  authentication {\n    auth_type PASS\n    auth_pass s3cret\n  }\n", ""),
}


@pytest.mark.parametrize("master_impl", ["pykeepalived", "keepalived"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_interop_roles_and_failover_both_ways(lab: Lab, scenario: str, master_impl: str) -> None:
    version, adv, extra, glob = SCENARIOS[scenario]
    backup_impl = "keepalived" if master_impl == "pykeepalived" else "pykeepalived"
    high = keepalived_conf(instance_block(priority=150, advert_int=adv, version=version, extra=extra),
                           global_extra=glob)
    low = keepalived_conf(instance_block(priority=100, advert_int=adv, version=version, extra=extra),
                          global_extra=glob)
    mdi = master_down_interval(version, 100, adv)
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        master = start_daemon(lab, DaemonSpec("lb1", high, impl=master_impl))
        # ready before the Master stops: the graceful-stop gap below is measured from the Backup's side
        backup = start_daemon(lab, DaemonSpec("lb2", low, impl=backup_impl), wait=True)
        assert _sender_is(cap, 51, IP["lb1"], t0, 3 * mdi + 3), master.log() + backup.log()
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"], master.log() + backup.log()
        a = [x for x in cap.adverts(51) if x.src == IP["lb1"]][-1]
        assert (a.version, a.priority, a.ttl) == (version, 150, 255)
        # the Backup stays Backup over several Master_Down_Intervals: it accepts the other's adverts
        t_settled = time.time()
        time.sleep(min(2 * mdi, 2.5))
        assert {x.src for x in cap.adverts(51) if x.t > t_settled and x.priority > 0} == {IP["lb1"]}

        # graceful stop of the Master: the other takes over after Skew_Time (priority-0 advert understood)
        t_stop = time.time()
        assert master.stop() == 0, master.log()
        assert _sender_is(cap, 51, IP["lb2"], t_stop, mdi + 3), backup.log()
        zero = [x for x in cap.adverts(51) if x.t > t_stop and x.priority == 0 and x.src == IP["lb1"]]
        first = [x for x in cap.adverts(51) if x.t > t_stop and x.src == IP["lb2"]]
        assert zero and first, (zero, first)
        gap = first[0].t - zero[0].t
        assert gap < skew_time(version, 100, adv) + 0.5 * (mdi - skew_time(version, 100, adv)), gap
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"]

        # the higher priority comes back and preempts; then crashes and the other takes over again
        t_back = time.time()
        master = start_daemon(lab, DaemonSpec("lb1", high, impl=master_impl))
        assert _sender_is(cap, 51, IP["lb1"], t_back, 3 * mdi + 3), master.log() + backup.log()
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"]
        if version == 3:  # a v2 crash costs another 3.6 s: the v3 runs cover SIGKILL
            t_kill = time.time()
            master.kill()
            assert _sender_is(cap, 51, IP["lb2"], t_kill, mdi + 3), backup.log()
        _stop_all(master, backup)


def _stop_all(*daemons: Daemon) -> None:
    for d in daemons:
        d.stop()


def test_mismatched_vrid_or_password_is_ignored_by_both(lab: Lab) -> None:
    # VI_A: same VIP, different VRIDs (v3); VI_B: same VRID, different PASS passwords (v2)
    def conf(vrid: int, password: str, priority: int) -> str:
        auth = f"  authentication {{\n    auth_type PASS\n    auth_pass {password}\n  }}\n"
        return keepalived_conf(
            instance_block("VI_A", vrid=vrid, priority=priority, advert_int=0.1, version=3),
            instance_block("VI_B", vrid=60, priority=priority, advert_int=1, version=2,
                           vips=("10.0.0.160/24",), extra=auth),
        )

    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        ours = start_daemon(lab, DaemonSpec("lb1", conf(51, "alpha", 150)))
        ka = start_daemon(lab, DaemonSpec("lb2", conf(52, "bravo", 100), impl="keepalived"))
        # each ignores the other: both are Master of both instances and hold both VIPs
        assert wait_vip_holders(lab, VIP, ["lb1", "lb2"], timeout=8) == ["lb1", "lb2"], ours.log() + ka.log()
        assert wait_vip_holders(lab, "10.0.0.160", ["lb1", "lb2"], timeout=8) == ["lb1", "lb2"]
        assert _sender_is(cap, 60, IP["lb1"], t0, 1) or [a for a in cap.adverts(60) if a.src == IP["lb1"]]
        assert [a for a in cap.adverts(60) if a.src == IP["lb2"] and a.priority == 100]
        assert {a.src for a in cap.adverts(51)} == {IP["lb1"]} and {a.src for a in cap.adverts(52)} == {IP["lb2"]}
        st = ours.stats()
        assert st["instances"]["VI_A"]["state"] == "MASTER" and st["instances"]["VI_B"]["state"] == "MASTER"
        assert st["instances"]["VI_B"]["stats"]["discards"].get("auth", 0) >= 1
        assert st["daemon"]["unknown_vrid"] >= 1
        assert "Entering MASTER STATE" in ka.log()
        _stop_all(ours, ka)


def test_v3_checksum_forms_against_keepalived_227(lab: Lab) -> None:
    """keepalived 2.2.7 predates ``v3_checksum_as_v2`` (it rejects the keyword) and sends and accepts only
    the RFC 5798 form (with the IPv4 pseudo-header).  Ours, sending the RFC 9568 form, must still accept
    keepalived's form (receive accepts both); keepalived must reject ours ("Invalid VRRPv3 checksum")."""
    glob = "  v3_checksum_as_v2\n"
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        ka = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150)), impl="keepalived"))
        ours = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=100), global_extra=glob)))
        assert _sender_is(cap, 51, IP["lb1"], t0, 5), ka.log() + ours.log()
        t_settled = time.time()
        time.sleep(1.0)
        assert {x.src for x in cap.adverts(51) if x.t > t_settled and x.priority > 0} == {IP["lb1"]}
        assert ours.state() == "BACKUP"
        assert ours.stats()["instances"]["VI_1"]["stats"]["discards"].get("checksum", 0) == 0
        # ours takes over on a graceful stop and sends the RFC 9568 form, which keepalived 2.2.7 rejects:
        # a returning keepalived (higher priority) cannot hear ours, so it becomes Master by itself and
        # ours, hearing keepalived's higher priority, steps back to Backup.
        assert ka.stop() == 0
        assert _sender_is(cap, 51, IP["lb2"], time.time(), 3), ours.log()
        ka = start_daemon(lab, DaemonSpec("lb1", keepalived_conf(instance_block(priority=150)), impl="keepalived"))
        assert wait_until(lambda: "Invalid VRRPv3 checksum" in ka.log(), 5), ka.log()
        assert wait_until(lambda: ours.state() == "BACKUP", 5), ours.log()
        _stop_all(ours, ka)


def test_old_unicast_checksum_is_learnt_from_keepalived_227(lab: Lab) -> None:
    """keepalived's ``old_unicast_checksum`` (the v3 unicast checksum of keepalived <= 1.3.6, summed over
    224.0.0.18 instead of the peer): it sends only that form and accepts only that form.  Ours, by default,
    learns it from the first such advert (as keepalived does) and then sends it too, so keepalived hears
    ours; with ``old_unicast_checksum never`` ours rejects keepalived's adverts and both become Master."""

    def conf(me: str, peer: str, priority: int, extra: str = "") -> str:
        uni = f"  unicast_src_ip {me}\n  unicast_peer {{\n    {peer}\n  }}\n"
        return keepalived_conf(instance_block(priority=priority, extra=uni + extra))

    ka = start_daemon(lab, DaemonSpec("lb2", conf(IP["lb2"], IP["lb1"], 150, "  old_unicast_checksum\n"),
                                      impl="keepalived"))
    ours = start_daemon(lab, DaemonSpec("lb1", conf(IP["lb1"], IP["lb2"], 100)))
    assert wait_vip_holders(lab, VIP, ["lb2"], timeout=5) == ["lb2"], ka.log() + ours.log()
    assert wait_until(lambda: "(VI_1) Setting unicast VRRPv3 checksum to old version" in ours.log(), 3), ours.log()
    time.sleep(0.5)
    st = ours.stats()["instances"]["VI_1"]
    assert st["state"] == "BACKUP" and st["stats"]["discards"].get("checksum", 0) == 0, st
    # ours takes over, sending the old form: a lower-priority keepalived must hear it and stay Backup
    assert ka.stop() == 0
    assert wait_vip_holders(lab, VIP, ["lb1"], timeout=3) == ["lb1"], ours.log()
    ka = start_daemon(lab, DaemonSpec("lb2", conf(IP["lb2"], IP["lb1"], 50, "  old_unicast_checksum\n"),
                                      impl="keepalived"))
    time.sleep(1.5)  # > keepalived's Master_Down_Interval at 100 ms adverts
    assert vip_holders(lab, VIP) == ["lb1"], ka.log()
    assert "Invalid VRRPv3 checksum" not in ka.log() and "Entering BACKUP STATE" in ka.log(), ka.log()
    # control: the same pair with ours set to "never" disagree on the checksum and both become Master
    assert ours.stop() == 0
    ours = start_daemon(lab, DaemonSpec("lb1", conf(IP["lb1"], IP["lb2"], 100, "  old_unicast_checksum never\n")))
    assert wait_vip_holders(lab, VIP, ["lb1", "lb2"], timeout=5) == ["lb1", "lb2"], ours.log() + ka.log()
    assert ours.stats()["instances"]["VI_1"]["stats"]["discards"].get("checksum", 0) >= 1
    _stop_all(ours, ka)
