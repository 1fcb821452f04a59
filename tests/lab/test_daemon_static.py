"""global ``static_ipaddress`` / ``static_routes`` / ``static_rules`` (keepalived's documentation: addresses,
routes and rules "that are not moved by VRRP"): set when the daemon starts, whatever its instances' states, kept
across a reload that keeps them, changed by a reload that changes them, removed when it stops."""

from __future__ import annotations

import pytest

from netns_lab.daemons import DaemonSpec, instance_block, keepalived_conf, start_daemon, wait_vip_holders
from netns_lab.lab import Lab
from netns_lab.waiting import wait_until

pytestmark = pytest.mark.lab

STATIC = ("static_ipaddress {\n  192.168.77.1/24 dev eth0\n}\n"
          "static_routes {\n  192.168.78.0/24 via 10.0.0.12 dev eth0\n}\n"
          "static_rules {\n  from 192.168.77.1 table 177\n}\n")


def _ip(lab: Lab, *args: str) -> str:
    return lab.exec("lb1", ["ip", *args]).stdout


def _present(lab: Lab) -> tuple[bool, bool, bool]:
    return ("192.168.77.1/24" in _ip(lab, "-4", "addr", "show", "dev", "eth0"),
            "192.168.78.0/24 via 10.0.0.12" in _ip(lab, "-4", "route", "show"),
            "from 192.168.77.1 lookup 177" in _ip(lab, "-4", "rule", "show"))


def test_static_addresses_routes_and_rules_live_with_the_daemon(lab: Lab) -> None:
    conf = keepalived_conf(instance_block(priority=150), STATIC)
    assert _present(lab) == (False, False, False)
    lb1 = start_daemon(lab, DaemonSpec("lb1", conf), wait=True)
    assert wait_until(lambda: _present(lab) == (True, True, True), 5), (_present(lab), lb1.log())
    assert wait_vip_holders(lab, "10.0.0.100", ["lb1"], timeout=10) == ["lb1"]
    lb1.reload()  # unchanged: still there
    assert wait_until(lambda: "Reload complete" in lb1.log(), 5), lb1.log()
    assert _present(lab) == (True, True, True)
    lb1.write_config(keepalived_conf(instance_block(priority=150),
                                     "static_ipaddress {\n  192.168.77.1/24 dev eth0\n}\n"))
    lb1.reload()  # the route and the rule leave with the configuration that had them
    assert wait_until(lambda: _present(lab) == (True, False, False), 5), (_present(lab), lb1.log())
    assert lb1.stop() == 0, lb1.log()
    assert _present(lab) == (False, False, False), lb1.log()
