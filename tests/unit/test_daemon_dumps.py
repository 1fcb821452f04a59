"""The dump files in keepalived 2.2.7's formats: ours are byte-identical where keepalived's are fully determined by
the snapshot (stats, json), and one parser reads ours and keepalived's captured files alike.

The fixtures in keepalived_dumps/ are what Debian's keepalived 2.2.7 wrote for the two peers of a.conf/b.conf
(a: MASTER, b: BACKUP) on SIGUSR1, SIGUSR2, SIGRTMIN+2 and STATS_CLEAR (contrib/capture_keepalived_dumps.sh).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pykeepalived.daemon.dumps import (
    DATA_FILE,
    JSON_FILE,
    STATS_FILE,
    DumpParseError,
    data_instances,
    dump_path,
    format_data,
    format_json,
    format_stats,
    parse_data,
    parse_json,
    parse_stats,
    signal_log_line,
    tmp_dir,
    write_dump,
)
from pykeepalived.daemon.files import DUMP_FILE_MODE
from pykeepalived.daemon.snapshot import (
    IFF_LOOPBACK,
    IFF_RUNNING,
    IFF_UP,
    DaemonSnapshot,
    GlobalSnapshot,
    InstanceSnapshot,
    InterfaceSnapshot,
    SyncGroupSnapshot,
    TrackedSnapshot,
    VipSnapshot,
    VrrpCounters,
)
from vrrp.core.packet import Reason
from vrrp.core.router import RouterStats
from vrrp.core.state import State

KA = Path(__file__).parent / "keepalived_dumps"
COUNTER_NAMES = list(VrrpCounters().as_keepalived())


def _peer_a(counters: dict[str, VrrpCounters], transitions: dict[str, float]) -> DaemonSnapshot:
    """The snapshot that describes peer a (a.conf) at the moment keepalived wrote its a.* files."""
    common = {"interface": "veth-a", "base_priority": 150, "effective_priority": 150, "state": State.MASTER,
              "source_ip": "192.0.2.1"}
    vi1 = InstanceSnapshot(
        name="VI_1", vrid=51, **common, auth_type=1, auth_data="secret", sync_group="G1",  # type: ignore[arg-type]
        vips=(VipSnapshot("192.0.2.100/24", "veth-a", is_set=True),
              VipSnapshot("192.0.2.101/32", "veth-a", label="veth-a:1", is_set=True)),
        evips=(VipSnapshot("198.51.100.5/32", "veth-a", is_set=True),),
        last_transition=transitions["VI_1"], counters=counters["VI_1"])
    vi2 = InstanceSnapshot(
        name="VI_2", vrid=52, version=3, advert_int=0.5, master_adver_int=0.5, sync_group="G1",
        **common,  # type: ignore[arg-type]
        vips=(VipSnapshot("192.0.2.200/24", "veth-a", is_set=True),),
        last_transition=transitions["VI_2"], counters=counters["VI_2"])
    vi6 = InstanceSnapshot(
        name="VI_6", vrid=61, version=3, family=6, interface="veth-a", base_priority=90, effective_priority=90,
        state=State.MASTER, nopreempt=True, vips=(VipSnapshot("2001:db8::61/64", "veth-a", is_set=True),),
        last_transition=transitions["VI_6"], counters=counters["VI_6"])
    return DaemonSnapshot(taken_at=0.0, instances=(vi1, vi2, vi6))


def _keepalived_a() -> tuple[str, DaemonSnapshot]:
    text = (KA / "a.keepalived.json").read_text()
    doc = parse_json(text)
    counters = {str(e["data"]["iname"]): VrrpCounters.from_keepalived(e["stats"]) for e in doc}
    transitions = {str(e["data"]["iname"]): float(e["data"]["last_transition"]) for e in doc}  # type: ignore[arg-type]
    return text, _peer_a(counters, transitions)


def test_our_json_is_byte_identical_to_keepalived_for_the_same_state() -> None:
    text, snap = _keepalived_a()
    assert format_json(snap) == text


def test_our_stats_file_is_byte_identical_to_keepalived_for_the_same_counters() -> None:
    for peer in ("a", "b", "b.after_clear"):
        text = (KA / f"{peer}.keepalived.stats").read_text()
        parsed = parse_stats(text)
        snap = DaemonSnapshot(taken_at=0.0, instances=tuple(
            InstanceSnapshot(name=name, state=State.BACKUP, vrid=1, interface="x",
                             counters=VrrpCounters.from_keepalived(c))
            for name, c in parsed.items()))
        assert format_stats(snap) == text, peer


def test_stats_parser_reads_keepalived_and_agrees_with_its_json() -> None:
    """Same peer, same moment (USR2 then JSON): the text and JSON counters name the same instances and keys."""
    for peer in ("a", "b"):
        stats = parse_stats((KA / f"{peer}.keepalived.stats").read_text())
        doc = parse_json((KA / f"{peer}.keepalived.json").read_text())
        assert list(stats) == [e["data"]["iname"] for e in doc]
        for entry in doc:
            assert sorted(stats[str(entry["data"]["iname"])]) == sorted(entry["stats"]) == sorted(COUNTER_NAMES)
            assert list(entry["stats"]) == COUNTER_NAMES
    b = parse_stats((KA / "b.keepalived.stats").read_text())
    assert b["VI_1"]["advert_rcvd"] > 0 and b["VI_1"]["advert_sent"] == 0


def test_stats_clear_capture_shows_counters_restarted() -> None:
    before = parse_stats((KA / "b.keepalived.stats").read_text())
    after = parse_stats((KA / "b.after_clear.keepalived.stats").read_text())
    assert all(after[n]["advert_rcvd"] <= before[n]["advert_rcvd"] for n in before)


def test_json_numeric_state_and_types_as_keepalived() -> None:
    _, snap = _keepalived_a()
    ours = parse_json(format_json(snap))
    theirs = parse_json((KA / "b.keepalived.json").read_text())
    assert [e["data"]["state"] for e in ours] == [2, 2, 2]
    assert [e["data"]["state"] for e in theirs] == [1, 1, 1]
    for a, b in zip(ours, theirs, strict=True):
        assert list(a["data"]) == list(b["data"])
        assert {k: type(v) for k, v in a["data"].items() if k != "adver_int"} == \
               {k: type(v) for k, v in b["data"].items() if k != "adver_int"}


def _peer_b() -> DaemonSnapshot:
    g = GlobalSnapshot(router_id="lab_b", smtp_server="127.0.0.1", smtp_port=2525, smtp_helo_name="vm",
                       smtp_connect_timeout=5, email_from="keepalived@example.com",
                       email_to=("admin@example.com", "ops@example.com"), script_security=True)
    base = {"interface": "veth-b", "state": State.BACKUP, "master_router": "192.0.2.1", "master_priority": 150,
            "source_ip": "192.0.2.2", "sync_group": "G1"}
    vi1 = InstanceSnapshot(name="VI_1", vrid=51, auth_type=1, auth_data="secret", **base,  # type: ignore[arg-type]
                           vips=(VipSnapshot("192.0.2.100/24", "veth-b"),
                                 VipSnapshot("192.0.2.101/32", "veth-b", label="veth-b:1")),
                           evips=(VipSnapshot("198.51.100.5/32", "veth-b"),), last_transition=1796357702.806660)
    vi2 = InstanceSnapshot(name="VI_2", vrid=52, version=3, advert_int=0.5, master_adver_int=0.5,
                           **base, vips=(VipSnapshot("192.0.2.200/24", "veth-b"),))  # type: ignore[arg-type]
    vi6 = InstanceSnapshot(name="VI_6", vrid=61, version=3, family=6, interface="veth-b", ifindex=2,
                           state=State.BACKUP,
                           base_priority=90, effective_priority=90, nopreempt=True, master_priority=90,
                           master_router="fe80::a4ef:6aff:fe28:5544", source_ip="fe80::5c94:78ff:feb8:815b",
                           vips=(VipSnapshot("2001:db8::61/64", "veth-b"),))
    return DaemonSnapshot(
        taken_at=0.0, globals=g, instances=(vi1, vi2, vi6),
        sync_groups=(SyncGroupSnapshot("G1", State.BACKUP, ("VI_1", "VI_2")),),
        interfaces=(InterfaceSnapshot("lo", 1, ipv4="127.0.0.1", mtu=65536, flags=IFF_UP | IFF_RUNNING | IFF_LOOPBACK),
                    InterfaceSnapshot("veth-b", 2, ipv4="192.0.2.2", ipv6="fe80::5c94:78ff:feb8:815b",
                                      mac="5e:94:78:b8:81:5b", mac_broadcast="ff:ff:ff:ff:ff:ff",
                                      tracking=("VI_1", "VI_2", "VI_6"))))


def test_data_parser_reads_ours_and_keepalived_alike() -> None:
    """Every line we write for an instance, a global or an interface is one keepalived writes, with its value
    (the run-time-only ones aside); the parsed trees have the same sections."""
    theirs = parse_data((KA / "b.keepalived.data").read_text())
    ours = parse_data(format_data(_peer_b()))
    assert set(ours) <= set(theirs)
    assert {"Global definitions", "VRRP Topology", "VRRP Sync groups", "Interfaces"} <= set(ours)
    their_inst, our_inst = data_instances(theirs), data_instances(ours)
    assert list(our_inst) == list(their_inst) == ["VI_1", "VI_2", "VI_6"]
    for name, fields in our_inst.items():
        for key, value in fields.items():
            assert key in their_inst[name], (name, key)
            if key != "Last transition" or name == "VI_1":
                assert value == their_inst[name][key], (name, key)
    their_globals = {n.key: n for n in theirs["Global definitions"]}
    for node in ours["Global definitions"]:
        assert node.key in their_globals, node.text
        if node.key != "Script security enabled":
            assert node.text == their_globals[node.key].text
        assert [c.text for c in node.children] == [c.text for c in their_globals[node.key].children]
    their_if = {n.value: n.fields() for n in theirs["Interfaces"]}
    for node in ours["Interfaces"]:
        for key, value in node.fields().items():
            assert their_if[node.value][key] == value, (node.value, key)


def test_data_parser_instance_lists() -> None:
    inst = data_instances(parse_data((KA / "a.keepalived.data").read_text()))
    assert inst["VI_1"]["Virtual IP (2)"].splitlines() == [
        "192.0.2.100/24 dev veth-a scope global set", "192.0.2.101 dev veth-a scope global label veth-a:1 set"]
    assert inst["VI_1"]["State"] == "MASTER" and inst["VI_6"]["Preempt"] == "disabled"


@pytest.mark.parametrize(("parser", "text", "where"), [
    (parse_stats, "VRRP Instance: X\n  Advertisements:\n    Received: many\n", "keepalived.stats:3"),
    (parse_stats, "  Became master: 1\n", "keepalived.stats:1"),
    (parse_json, "[{\"data\": {}}]", "keepalived.json"),
    (parse_json, "[{", "keepalived.json:1"),
    (parse_data, " Router ID = x\n", "keepalived.data:1"),
])
def test_bad_dump_text_is_a_clear_error_naming_the_line(parser: object, text: str, where: str) -> None:
    with pytest.raises(DumpParseError, match=where):
        parser(text)  # type: ignore[operator]


_COUNTS = st.integers(min_value=0, max_value=2**64 - 1)


@given(st.lists(st.tuples(st.from_regex(r"[A-Za-z_][A-Za-z0-9_.-]{0,15}", fullmatch=True),
                          st.fixed_dictionaries({k: _COUNTS for k in COUNTER_NAMES})),
                unique_by=lambda t: t[0], max_size=4))
def test_stats_and_json_round_trip_through_the_parsers(items: list[tuple[str, dict[str, int]]]) -> None:
    snap = DaemonSnapshot(taken_at=0.0, instances=tuple(
        InstanceSnapshot(name=n, state=State.MASTER, vrid=7, interface="eth0", counters=VrrpCounters.from_keepalived(c))
        for n, c in items))
    assert parse_stats(format_stats(snap)) == dict(items)
    assert [(e["data"]["iname"], e["stats"]) for e in parse_json(format_json(snap))] == items


def test_counters_from_router_stats_use_keepalived_names() -> None:
    rs = RouterStats(adverts_received=10, adverts_sent=3, rcvd_pri_zero=1, sent_pri_zero=2, master_transitions=4,
                     address_list_mismatch=2)
    for reason, n in ((Reason.TTL, 5), (Reason.AUTH, 1), (Reason.CHECKSUM, 7), (Reason.ADDRESS_LIST, 1)):
        for _ in range(n):
            rs.discard(reason)
    c = VrrpCounters.from_router(rs, release_master=3)
    assert c.as_keepalived() == {
        "advert_rcvd": 10, "advert_sent": 3, "become_master": 4, "release_master": 3, "packet_len_err": 0,
        "advert_interval_err": 0, "ip_ttl_err": 5, "invalid_type_rcvd": 0, "addr_list_err": 3,
        "invalid_authtype": 0, "authtype_mismatch": 0, "auth_failure": 1, "pri_zero_rcvd": 1, "pri_zero_sent": 2}
    assert c.other_discards == (("checksum", 7),)


def test_write_dump_uses_keepalived_names_and_mode(tmp_path: Path) -> None:
    _, snap = _keepalived_a()
    for name in (DATA_FILE, STATS_FILE, JSON_FILE):
        path = write_dump(tmp_path, name, snap)
        assert path == tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == DUMP_FILE_MODE
    json.loads((tmp_path / JSON_FILE).read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([DATA_FILE, STATS_FILE, JSON_FILE])


def test_dump_paths_follow_keepalived() -> None:
    assert tmp_dir({}) == Path("/tmp")
    assert tmp_dir({"TMPDIR": "relative"}) == Path("/tmp")
    assert tmp_dir({"TMPDIR": "/var/tmp/ka"}) == Path("/var/tmp/ka")
    assert dump_path("/tmp", DATA_FILE) == Path("/tmp/keepalived.data")
    assert dump_path("/tmp", DATA_FILE, netns="blue", instance="i1") == Path("/tmp/keepalived.data")
    assert dump_path("/tmp", DATA_FILE, netns="blue", instance="i1", use_instance=True) == \
        Path("/tmp/keepalived.blue_i1.data")
    assert dump_path("/tmp", DATA_FILE, instance="i1", use_instance=True) == Path("/tmp/keepalived.i1.data")
    assert dump_path("/tmp", STATS_FILE, netns="blue", use_instance=True) == Path("/tmp/keepalived.stats")
    assert signal_log_line(STATS_FILE, 42, clearing=True) == \
        "Printing and clearing VRRP stats for process(42) on signal"
    assert signal_log_line(JSON_FILE, 42) == "Printing VRRP as json for process(42) on signal"


def test_global_smtp_alert_defaults_are_worded_on_off_unset() -> None:
    text = format_data(DaemonSnapshot(taken_at=0.0, globals=GlobalSnapshot(smtp_alert=True, smtp_alert_vrrp=False)))
    assert " Default smtp_alert = on\n" in text
    assert " Default smtp_alert_vrrp = off\n" in text
    assert " Default smtp_alert_checker = unset\n" in text


def test_tracked_lines_and_json_names() -> None:
    inst = InstanceSnapshot(
        name="VI", state=State.BACKUP, vrid=9, interface="eth0",
        track_interfaces=(TrackedSnapshot("eth1", -20),),
        track_scripts=(TrackedSnapshot("chk", 10, reverse=True, command="/usr/bin/pidof haproxy"),))
    snap = DaemonSnapshot(taken_at=0.0, instances=(inst,))
    fields = data_instances(parse_data(format_data(snap)))["VI"]
    assert fields["Tracked interfaces"] == "eth1 weight -20"
    assert fields["Tracked scripts"] == "chk weight 10 reverse"
    data = parse_json(format_json(snap))[0]["data"]
    assert data["track_ifp"] == ["eth1"] and data["track_script"] == ["/usr/bin/pidof haproxy"]
