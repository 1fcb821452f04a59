"""From config to what the VRRP daemon runs (pykeepalived/daemon/settings.py): what keepalived ignores or
refuses at start-up must not reach the daemon, and the daemon's bounded bookkeeping.  No namespaces needed."""

from __future__ import annotations

import json
from ipaddress import IPv4Address
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pykeepalived.config import HostView, Severity, load_config
from pykeepalived.daemon.settings import SettingsError, build_settings
from vrrp.core.actions import StateChanged
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State, TransitionReason
from vrrp.io.driver import OWN_DUMP, TRANSITION_HISTORY, Instance, VrrpDaemon

HOST = HostView(interfaces=frozenset({"eth0", "lo"}), find_executable=lambda _: None, user_exists=lambda _: False)


def load(tmp_path: Path, text: str) -> Any:
    f = tmp_path / "keepalived.conf"
    f.write_text(text)
    return load_config(str(f), config_id="main", host=HOST)


def instance(name: str, iface: str, vrid: int, extra: str = "") -> str:
    return (f"vrrp_instance {name} {{\n interface {iface}\n virtual_router_id {vrid}\n priority 100\n"
            f" virtual_ipaddress {{\n  10.0.0.{vrid}/24\n }}\n{extra}}}\n")


def test_an_instance_on_loopback_is_reported_and_not_run(tmp_path: Path) -> None:
    r = load(tmp_path, instance("ON_LO", "lo", 1) + instance("ON_ETH", "eth0", 2)
             + "vrrp_sync_group G {\n group {\n  ON_LO\n  ON_ETH\n }\n}\n")
    assert (1, "(ON_LO) cannot use a loopback interface (lo) for vrrp - ignoring") in [
        (d.location.line, d.message) for d in r.diagnostics if d.severity >= Severity.WARNING
    ]
    settings = build_settings(r.config)
    assert [i.name for i in settings.instances] == ["ON_ETH"]
    # keepalived frees the instance, so its sync group carries on without it (not "no vrrp_instance ON_LO")
    assert [g.members for g in settings.sync_groups] == [("ON_ETH",)]


def test_loopback_alone_leaves_nothing_to_run(tmp_path: Path) -> None:
    assert build_settings(load(tmp_path, instance("ON_LO", "lo", 1)).config).instances == ()


@pytest.mark.parametrize("table", ["999999999999", "4294967296", "-1"])
def test_a_rule_table_beyond_32_bits_names_file_and_line(tmp_path: Path, table: str) -> None:
    rules = f" virtual_rules {{\n  from 10.0.0.0/24 table {table} priority 100\n }}\n"
    r = load(tmp_path, instance("V", "eth0", 1, rules))
    # keepalived 2.2.7's -t accepts these (it wraps them modulo 2^32), so ours keeps its verdict ...
    assert not [d for d in r.diagnostics if d.severity >= Severity.ERROR]
    # ... and the daemon refuses it with file:line instead of failing at netlink once Master
    with pytest.raises(SettingsError, match=r"keepalived\.conf:9: vrrp_instance V: virtual_rules .*table"):
        build_settings(r.config)


def test_a_rule_to_table_0_is_refused_like_keepalived(tmp_path: Path) -> None:
    rules = " virtual_rules {\n  from 10.0.0.0/24 table 0 priority 100\n }\n"
    r = load(tmp_path, instance("V", "eth0", 1, rules))
    assert (9, "Table 0 is not valid") in [(d.location.line, d.message) for d in r.diagnostics]
    with pytest.raises(SettingsError, match=r"keepalived\.conf:9: .*out of range \(1\.\.4294967295\)"):
        build_settings(r.config)


@pytest.mark.parametrize("table", ["1", "100", "4294967295"])
def test_rule_tables_the_kernel_holds_pass(tmp_path: Path, table: str) -> None:
    rules = f" virtual_rules {{\n  from 10.0.0.0/24 table {table} priority 100\n }}\n"
    r = load(tmp_path, instance("V", "eth0", 1, rules))
    assert not [d for d in r.diagnostics if "table" in d.message.lower()]
    assert build_settings(r.config).instances[0].rules[0].table == int(table)


def test_transition_history_is_bounded_and_still_dumped(tmp_path: Path) -> None:
    settings = build_settings(load(tmp_path, instance("V", "eth0", 1)).config)
    s = settings.instances[0]
    router = VirtualRouter(s.router_config(IPv4Address("10.0.0.2")))
    daemon = VrrpDaemon(settings, dump_dir=tmp_path)
    fake_sock: Any = SimpleNamespace()
    inst = Instance(s, router, fake_sock, fake_sock, IPv4Address("10.0.0.2"), bytes(6))
    daemon.instances.append(inst)
    daemon._notifier = SimpleNamespace(instance=lambda *a: None)  # type: ignore[assignment]
    flips = [(State.BACKUP, State.MASTER), (State.MASTER, State.BACKUP)]
    for n in range(TRANSITION_HISTORY * 3 + 1):
        old, new = flips[n % 2]
        daemon._state_changed(inst, StateChanged(old, new, TransitionReason.PRIORITY, 100))
    assert len(inst.transitions) == TRANSITION_HISTORY
    daemon._write_own_dump()
    dumped = json.loads((tmp_path / OWN_DUMP).read_text())["instances"]["V"]["transitions"]
    assert (tmp_path / OWN_DUMP).stat().st_mode & 0o777 == 0o600
    assert len(dumped) == TRANSITION_HISTORY
    assert dumped[-1] == {"t": dumped[-1]["t"], "from": "BACKUP", "to": "MASTER", "reason": "priority"}


def test_a_route_table_beyond_32_bits_is_refused_with_file_and_line(tmp_path: Path) -> None:
    routes = " virtual_routes {\n  10.1.0.0/16 dev eth0 table 4294967296\n }\n"
    r = load(tmp_path, instance("V", "eth0", 1, routes))
    with pytest.raises(SettingsError, match=r"keepalived\.conf:9: vrrp_instance V: virtual_routes .*out of range"):
        build_settings(r.config)


def test_strict_mode_reaches_the_router_and_refuses_a_global_first_ipv6_vip(tmp_path: Path) -> None:
    """RFC 9568 §5.2.9 from configuration: keepalived's vrrp_strict makes a global first IPv6 VIP an error; the
    daemon refuses it naming file and line (without strict mode it runs, keepalived only logs it)."""
    text = ("vrrp_instance V6 {\n interface eth0\n virtual_router_id 7\n priority 100\n"
            " virtual_ipaddress {\n  2001:db8::1/64\n  fe80::7/64\n }\n}\n")
    loose = build_settings(load(tmp_path, text).config)
    assert [i.strict_mode for i in loose.instances] == [False]
    with pytest.raises(SettingsError, match=r"keepalived\.conf:\d+: vrrp_instance V6: .*must be link local"):
        build_settings(load(tmp_path, "global_defs {\n vrrp_strict\n}\n" + text).config)


def test_static_addresses_routes_and_rules_reach_the_settings(tmp_path: Path) -> None:
    static = ("static_ipaddress {\n 192.168.77.1/24 dev eth1\n 192.168.79.1/24\n}\n"
              "static_routes {\n 192.168.78.0/24 via 10.0.0.12\n}\nstatic_rules {\n from 192.168.77.1 table 177\n}\n")
    s = build_settings(load(tmp_path, instance("V", "eth0", 1) + static).config)
    assert [(str(a.address), a.dev) for a in s.static_addresses] == [("192.168.77.1/24", "eth1"),
                                                                     ("192.168.79.1/24", "eth0")]
    assert [(str(r.dst), str(r.via)) for r in s.static_routes] == [("192.168.78.0/24", "10.0.0.12")]
    assert [(r.table, str(r.src)) for r in s.static_rules] == [(177, "192.168.77.1/32")]
    plain = build_settings(load(tmp_path, instance("V", "eth0", 1)).config)
    assert (plain.static_addresses, plain.static_routes, plain.static_rules) == ((), (), ())
