"""``preempt_delay`` after "lower Master -> higher Master -> lower Master again", ours vs keepalived 2.2.7.

The question (issue 5 follow-up): once a higher-or-equal-priority advert has been heard during the delay, does
a Backup that hears a lower-priority Master again restart the full ``preempt_delay``, or does it preempt one
Master_Down_Interval after the lower Master returns (the old deadline having already passed)?  The answer is
taken from keepalived itself: the same injected sequence is played at the same time to keepalived (lb1, VRID
51) and our daemon (lb2, VRID 52), and each takeover is timed on the wire (the Backup's first advert).  Both
must take over at the same point (within 0.3 s).  Answer for 2.2.7: the delay restarts, for a higher and for an
equal priority alike.

The "Masters" are adverts injected from the client namespace (built with ``vrrp.core.packet.encode``, sent on a raw
socket every 100 ms); the priority to send is read from a control file the test rewrites, so phase changes are
timed by the test and need no clock shared with the injector.
"""

from __future__ import annotations

import sys
import time

import pytest

from netns_lab.capture import Capture
from netns_lab.daemons import Daemon, DaemonSpec, instance_block, keepalived_conf, start_daemon
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until

pytestmark = [pytest.mark.interop, pytest.mark.lab]

DELAY = 2.0
LOW, MINE = 50, 100
# Each daemon is a priority-100 Backup of its own VRID (so the two never hear each other) and both hear the
# same injected Masters at the same moments: (host, impl, vrid, VIP).
SIDES = (("lb1", "keepalived", 51, "10.0.0.100"), ("lb2", "pykeepalived", 52, "10.0.0.101"))
IP = {"lb1": "10.0.0.11", "lb2": "10.0.0.12"}

# Runs in the client namespace: every 100 ms read the priority to advertise from argv[1] (0 or missing: stay
# silent; "quit": exit) and send one VRRPv3 advert per (VRID, VIP) in argv[2:], with keepalived's checksum
# form (keepalived 2.2.7 accepts only that one).
_INJECTOR = r"""
import ipaddress, socket, sys, time
from pathlib import Path
from vrrp.core.packet import Advertisement, encode
ctl = Path(sys.argv[1])
pairs = [(int(v), ipaddress.IPv4Address(a)) for v, a in (x.split("=") for x in sys.argv[2:])]
src, dst = "10.0.0.10", "224.0.0.18"
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"eth0")
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, ipaddress.IPv4Address(src).packed)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
nxt = time.monotonic()
while True:
    try:
        word = ctl.read_text().strip()
    except OSError:
        word = "0"
    if word == "quit":
        break
    prio = int(word or 0)
    for vrid, vip in pairs if prio else []:
        adv = Advertisement(3, vrid, prio, [vip], 10)
        s.sendto(encode(adv, family=4, src=src, dst=dst, checksum_form="rfc5798"), (dst, 0))
    nxt += 0.1
    time.sleep(max(0.0, nxt - time.monotonic()))
"""


@pytest.mark.parametrize("other", [200, MINE], ids=["higher", "equal"])
def test_preempt_delay_after_a_higher_master_matches_keepalived(lab: Lab, other: int) -> None:
    """Low Master (1 s from the Backups' start), then a Master of priority ``other`` for 1.6 s -- past the
    first delay's deadline -- then the low Master again.  keepalived 2.2.7 logs "stop preempt delay" on the
    second Master and "start preempt delay" on the low one's return, and takes over a full ``preempt_delay``
    plus Master_Down_Interval (about 2.45 s) after that return; ours must take over at the same point."""
    ctl = lab.log_dir / "injector.ctl"
    ctl.write_text(str(LOW))
    inj = lab.start("client", [sys.executable, "-c", _INJECTOR, str(ctl),
                               *(f"{vrid}={vip}" for _, _, vrid, vip in SIDES)],
                    name="inject")
    daemons: list[Daemon] = []
    try:
        with Capture(lab.switch_netns("lan"), lab.bridge_ifname("lan")) as cap:
            assert cap.wait_for(lambda a: a.src == "10.0.0.10" and a.priority == LOW, 5), inj.log_path.read_text()
            t_start = time.time()
            for host, impl, vrid, vip in SIDES:
                block = instance_block(vrid=vrid, priority=MINE, advert_int=0.1, version=3, vips=(f"{vip}/24",),
                                       extra=f"  preempt_delay {DELAY:g}\n")
                daemons.append(start_daemon(lab, DaemonSpec(host, keepalived_conf(block), impl=impl)))
            for d in daemons:  # both log "(VI_1) Entering BACKUP STATE" once they run the instance
                assert wait_until(lambda d=d: "Entering BACKUP STATE" in d.log(), 5), d.log()
            assert time.time() < t_start + 1.0, "daemons too slow to start"
            time.sleep(max(0.0, t_start + 1.0 - time.time()))
            ctl.write_text(str(other))
            time.sleep(1.6)  # the first delay (counted from the start / first low advert) runs out meanwhile
            ctl.write_text(str(LOW))
            t_low = time.time()
            after: dict[str, float] = {}
            for d, (host, impl, vrid, _) in zip(daemons, SIDES, strict=True):
                first = cap.wait_for(lambda a, h=host, v=vrid: a.src == IP[h] and a.vrid == v and a.priority > 0,
                                     DELAY + 3)
                assert first is not None, d.log()
                # nobody took over before the low Master came back (a shortened or skipped delay)
                assert first.t > t_low, (impl, first.t - t_low, d.log())
                after[impl] = first.t - t_low
        print(f"takeover after the low Master returns: keepalived {after['keepalived']:.3f} s, "
              f"ours {after['pykeepalived']:.3f} s")
        assert "stop preempt delay" in daemons[0].log(), daemons[0].log()  # the experiment's premise
        assert after["keepalived"] > DELAY, after  # keepalived restarts the delay (2.2.7's behaviour)
        assert abs(after["pykeepalived"] - after["keepalived"]) <= 0.3, (after, daemons[0].log(), daemons[1].log())
    finally:
        for d in daemons:
            d.stop()
        ctl.write_text("quit")
        inj.stop(2)
