"""Trackers drive failover in real namespaces: ``track_interface`` (netlink reflector), the instance's own
interface going down (FAULT), a failing ``vrrp_script`` (and its recovery), and a ``vrrp_sync_group`` moving
both of its instances together."""

from __future__ import annotations

import shutil
import time

import pytest

from netns_lab.capture import Capture
from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

VIP = "10.0.0.100"
VIP2 = "10.0.0.101"


def _sender_is(cap: Capture, vrid: int, src: str, after: float, timeout: float = 5.0) -> bool:
    def ok() -> bool:
        ads = [a for a in cap.adverts(vrid) if a.t > after and a.priority > 0]
        return len(ads) >= 3 and all(a.src == src for a in ads[-3:])

    return bool(wait_until(ok, timeout))


def test_track_interface_own_interface_fault_and_vrrp_script(lab: Lab) -> None:
    flag = lab.log_dir / "lb1-fail"
    # no dummy module on this kernel: a veth pair inside lb1; taking its peer down drops trk0's carrier
    lab.exec("lb1", ["ip", "link", "add", "trk0", "type", "veth", "peer", "name", "trk1"])
    lab.exec("lb1", ["ip", "link", "set", "trk0", "up"])
    lab.exec("lb1", ["ip", "link", "set", "trk1", "up"])
    tfile = lab.log_dir / "weight.track"
    # vrrp_track_process: a copy of sleep under a name unique to this run (/proc is shared by all namespaces)
    pname = f"tp{lab.prefix}"
    shutil.copy("/bin/sleep", lab.log_dir / pname)
    tracked = lab.start("lb1", [str(lab.log_dir / pname), "600"], name=pname)
    lb1_conf = keepalived_conf(
        f"vrrp_script chk {{\n  script \"/usr/bin/test ! -e {flag}\"\n  interval 0.1\n  weight -100\n}}\n",
        f"track_file tf {{\n  file {tfile}\n  weight -100\n  init_file 0\n}}\n",
        f"vrrp_track_process tp {{\n  process {pname}\n  weight -100\n}}\n",
        instance_block(priority=150, extra="  track_interface {\n    trk0 weight -100\n  }\n"
                                           "  track_script {\n    chk\n  }\n  track_file {\n    tf\n  }\n"
                                           "  track_process {\n    tp\n  }\n"),
    )
    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", lb1_conf))
        lb2 = start_daemon(lab, DaemonSpec("lb2", keepalived_conf(instance_block(priority=100))))
        assert _sender_is(cap, 51, "10.0.0.11", t0), lb1.log()

        # track_interface: trk0 losing carrier costs 100 -> 50 < 100: lb2 preempts; back up -> lb1 preempts
        t = time.time()
        lab.exec("lb1", ["ip", "link", "set", "trk1", "down"])
        assert _sender_is(cap, 51, "10.0.0.12", t), lb1.log()
        assert lb1.stats()["instances"]["VI_1"]["effective_priority"] == 50
        assert "Changing effective priority from 150 to 50" in lb1.log()
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"]
        t = time.time()
        lab.exec("lb1", ["ip", "link", "set", "trk1", "up"])
        assert _sender_is(cap, 51, "10.0.0.11", t), lb1.log()

        # a failing vrrp_script (weight -100): failover, and back when it succeeds again
        t = time.time()
        flag.write_text("")
        assert _sender_is(cap, 51, "10.0.0.12", t), lb1.log()
        assert lb1.state() == "BACKUP"
        t = time.time()
        flag.unlink()
        assert _sender_is(cap, 51, "10.0.0.11", t), lb1.log()
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"]

        # track_file: value 1 x weight -100 -> 50: failover; 0 again -> back
        t = time.time()
        tfile.write_text("1\n")
        assert _sender_is(cap, 51, "10.0.0.12", t), lb1.log()
        t = time.time()
        tfile.write_text("0\n")
        assert _sender_is(cap, 51, "10.0.0.11", t), lb1.log()

        # vrrp_track_process: the tracked process exits -> 50: failover
        t = time.time()
        tracked.kill()
        assert _sender_is(cap, 51, "10.0.0.12", t), lb1.log()
        assert lb1.stats()["instances"]["VI_1"]["effective_priority"] == 50
        tracked = lab.start("lb1", [str(lab.log_dir / pname), "600"], name=pname)
        assert _sender_is(cap, 51, "10.0.0.11", time.time()), lb1.log()

        # the instance's own interface going down is a FAULT (weight 0), not a priority change
        t = time.time()
        lab.exec("lb1", ["ip", "link", "set", "eth0", "down"])
        assert _sender_is(cap, 51, "10.0.0.12", t), lb2.log()
        assert lb1.state() == "FAULT"
        assert VIP not in lab.exec("lb1", ["ip", "-o", "addr"]).stdout
        t = time.time()
        lab.exec("lb1", ["ip", "link", "set", "eth0", "up"])
        assert _sender_is(cap, 51, "10.0.0.11", t), lb1.log()
        assert lb1.state() == "MASTER"
        assert lb1.stop() == 0


def test_sync_group_moves_both_instances(lab: Lab) -> None:
    flag = lab.log_dir / "lb1-fail"

    def conf(priority: int, script: bool) -> str:
        track = "  track_script {\n    chk\n  }\n" if script else ""
        chk = f"vrrp_script chk {{\n  script \"/usr/bin/test ! -e {flag}\"\n  interval 0.1\n}}\n" if script else ""
        return keepalived_conf(
            chk,
            "vrrp_sync_group G1 {\n  group {\n    VI_1\n    VI_2\n  }\n}\n",
            instance_block("VI_1", vrid=51, priority=priority, extra=track),
            instance_block("VI_2", vrid=52, priority=priority, vips=(f"{VIP2}/24",)),
        )

    with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
        t0 = time.time()
        lb1 = start_daemon(lab, DaemonSpec("lb1", conf(150, True)))
        lb2 = start_daemon(lab, DaemonSpec("lb2", conf(100, False)))
        assert _sender_is(cap, 51, "10.0.0.11", t0) and _sender_is(cap, 52, "10.0.0.11", t0), lb1.log()
        assert wait_vip_holders(lab, VIP, ["lb1"]) == ["lb1"] and wait_vip_holders(lab, VIP2, ["lb1"]) == ["lb1"]

        # only VI_1 tracks the script; its failure faults VI_1 and the group takes VI_2 along
        t = time.time()
        flag.write_text("")
        assert _sender_is(cap, 51, "10.0.0.12", t) and _sender_is(cap, 52, "10.0.0.12", t), lb2.log()
        st = lb1.stats()
        assert {n: i["state"] for n, i in st["instances"].items()} == {"VI_1": "FAULT", "VI_2": "FAULT"}
        assert wait_vip_holders(lab, VIP, ["lb2"]) == ["lb2"] and wait_vip_holders(lab, VIP2, ["lb2"]) == ["lb2"]
        assert "VRRP_Group(G1)" in lb1.log()

        t = time.time()
        flag.unlink()
        assert _sender_is(cap, 51, "10.0.0.11", t) and _sender_is(cap, 52, "10.0.0.11", t), lb1.log()
        assert wait_vip_holders(lab, VIP2, ["lb1"]) == ["lb1"]
        st2 = lb2.stats()
        assert {n: i["state"] for n, i in st2["instances"].items()} == {"VI_1": "BACKUP", "VI_2": "BACKUP"}
