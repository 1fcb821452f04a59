"""From keepalived.conf to the dump, end to end without a daemon: peer b's config (the one keepalived 2.2.7 ran
for the captured dumps) through our config loader, settings and sans-IO routers gives the same configuration
lines in keepalived.data as keepalived wrote."""

from __future__ import annotations

from ipaddress import ip_address
from pathlib import Path

from pykeepalived.config import HostView, load_config
from pykeepalived.daemon.dumps import data_instances, format_data, format_json, parse_data, parse_json
from pykeepalived.daemon.settings import build_settings
from pykeepalived.daemon.snapshot import DaemonSnapshot, GlobalSnapshot
from pykeepalived.daemon.snapshot_of import instance_snapshot
from vrrp.core.router import VirtualRouter
from vrrp.core.state import State

KA = Path(__file__).parent / "keepalived_dumps"
HOST = HostView(interfaces=frozenset({"veth-b", "lo"}), find_executable=lambda _: "/bin/true",
                user_exists=lambda _: True)
SOURCES = {4: ip_address("192.0.2.2"), 6: ip_address("fe80::5c94:78ff:feb8:815b")}

#: Lines of an instance that come from its configuration (not from what happened at run time).
CONFIG_KEYS = ("VRRP Version", "Sync group", "Using Native IPv6", "State", "Interface", "Using src_ip",
               "Gratuitous ARP delay", "Gratuitous ARP repeat", "Gratuitous ARP refresh",
               "Gratuitous ARP refresh repeat", "Gratuitous ARP lower priority delay",
               "Gratuitous ARP lower priority repeat", "Down timer adverts",
               "Send advert after receive lower priority advert", "Send advert after receive higher priority advert",
               "Virtual Router ID", "Priority", "Effective priority", "Advert interval", "Accept", "Preempt",
               "Promote_secondaries", "Authentication type", "Password", "Virtual IP (2)", "Virtual IP (1)",
               "Virtual IP Excluded", "Using smtp notification")


def _snapshot() -> DaemonSnapshot:
    r = load_config(str(KA / "b.conf"), config_id="main", host=HOST)
    settings = build_settings(r.config)
    g = GlobalSnapshot.from_defs(r.config.global_defs)
    groups = {m: grp.name for grp in settings.sync_groups for m in grp.members}
    instances = []
    for s in settings.instances:
        router = VirtualRouter(s.router_config(SOURCES[s.family]))
        router.start(0)
        instances.append(instance_snapshot(s, router, source=SOURCES[s.family], sync_group=groups.get(s.name), g=g,
                                           ifindex=2))
    return DaemonSnapshot(taken_at=0.0, globals=g, instances=tuple(instances))


def test_config_lines_of_our_dump_are_keepalived_lines() -> None:
    theirs = data_instances(parse_data((KA / "b.keepalived.data").read_text()))
    ours = data_instances(parse_data(format_data(_snapshot())))
    assert list(ours) == list(theirs)
    compared = 0
    for name, fields in theirs.items():
        for key in CONFIG_KEYS:
            if key in fields:
                assert ours[name].get(key) == fields[key], (name, key)
                compared += 1
    assert compared >= 3 * 20


def test_global_lines_of_our_dump_are_keepalived_lines() -> None:
    theirs = {n.key: n for n in parse_data((KA / "b.keepalived.data").read_text())["Global definitions"]}
    for node in parse_data(format_data(_snapshot()))["Global definitions"]:
        if node.key in ("Smtp HELO name", "Script security enabled", "Network namespace"):
            continue  # the capture host's name; keepalived words the last one as a bare flag line
        assert node.text == theirs[node.key].text
        assert [c.text for c in node.children] == [c.text for c in theirs[node.key].children]


def test_json_config_fields_match_keepalived() -> None:
    theirs = parse_json((KA / "b.keepalived.json").read_text())
    ours = parse_json(format_json(_snapshot()))
    same = ("iname", "ifp_ifname", "vrid", "base_priority", "effective_priority", "adver_int", "nopreempt",
            "preempt_delay", "state", "wantstate", "version", "smtp_alert", "vips", "evips", "auth_type", "auth_data",
            "garp_delay", "garp_rep", "garp_refresh", "garp_refresh_rep", "accept", "vipset")
    for a, b in zip(ours, theirs, strict=True):
        for key in same:
            assert a["data"].get(key) == b["data"].get(key), (b["data"]["iname"], key)
    assert [e["data"]["state"] for e in ours] == [1, 1, 1]


def test_master_marks_its_vips_set() -> None:
    r = load_config(str(KA / "a.conf"), config_id="main",
                    host=HostView(interfaces=frozenset({"veth-a"}), find_executable=lambda _: "/bin/true",
                                  user_exists=lambda _: True))
    s = build_settings(r.config).instances[0]
    router = VirtualRouter(s.router_config(ip_address("192.0.2.1")))
    router.start(0)
    router.handle_timer(10**9)  # Master_Down_Timer fires: Master
    assert router.state is State.MASTER
    snap = instance_snapshot(s, router, source="192.0.2.1", transitions=[(1.5, "BACKUP", "MASTER", "x")],
                             release_master=0)
    assert all(v.is_set for v in snap.vips) and snap.last_transition == 1.5
    assert snap.counters.become_master == 1
    theirs = parse_json((KA / "a.keepalived.json").read_text())[0]["data"]["vips"]
    assert [v.keepalived_text() for v in snap.vips] == theirs
