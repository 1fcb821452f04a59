"""netns_lab/sim.py: the deterministic simulator, scenario by scenario, with exact timing oracles."""

from __future__ import annotations

import doctest
from ipaddress import IPv4Address

import pytest

import netns_lab.sim
from netns_lab.sim import SimError, Simulation
from vrrp.core.config import RouterConfig
from vrrp.core.packet import Advertisement, encode
from vrrp.core.state import State
from vrrp.core.timers import master_down_interval_us, skew_time_us
from vrrp.core.tracking import Tracker

S = 1_000_000
DELAY = (100, 1000)


def lan(*prios: int, seed: int = 7, advert_int: float = 1.0, **settings: object) -> Simulation:
    sim = Simulation(seed=seed, delay_us=DELAY)
    for i, p in enumerate(prios, start=1):
        sim.add_router(f"r{i}", priority=p, address=f"10.0.0.{i}", advert_int=advert_int, **settings)
    sim.start()
    return sim


def last_transition_to_master(sim: Simulation) -> tuple[int, str]:
    tr = [t for t in sim.history.transitions if t.new is State.MASTER][-1]
    return tr.t, tr.node


def test_module_docstring_example_runs() -> None:
    failures, tried = doctest.testmod(netns_lab.sim, optionflags=doctest.ELLIPSIS)
    assert tried > 5 and failures == 0


def test_highest_priority_wins_at_startup_after_its_master_down_interval() -> None:
    sim = lan(100, 200, 150)
    sim.run_for(10)
    assert sim.masters() == ["r2"] and sim.vip_holders() == ["r2"]
    t, node = last_transition_to_master(sim)
    assert node == "r2" and t == master_down_interval_us(200, 100)


def test_same_seed_same_history_different_seed_different_delays() -> None:
    def run(seed: int) -> list[tuple[int, str, str]]:
        sim = lan(100, 100, 100, seed=seed)
        sim.set_loss("r1", 0.3)
        sim.run_for(20)
        sim.crash(sim.masters()[0])
        sim.run_for(20)
        return [(t.t, t.node, t.new.value) for t in sim.history.transitions] + [
            (a.t, a.node, str(a.priority)) for a in sim.history.adverts
        ]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_crash_takeover_lies_in_the_rfc_window() -> None:
    sim = lan(200, 100)
    sim.run_for(10.3)
    assert sim.masters() == ["r1"]
    last_advert = max(a.t for a in sim.history.adverts if a.node == "r1")
    crash_at = sim.now
    sim.crash("r1")
    sim.run_for(5)
    t, node = last_transition_to_master(sim)
    mdi = master_down_interval_us(100, 100)
    assert node == "r2"
    assert last_advert + DELAY[0] + mdi <= t <= last_advert + DELAY[1] + mdi
    assert mdi - S < t - crash_at <= mdi + DELAY[1]
    assert sim.vip_holders() == ["r2"]


def test_graceful_stop_hands_over_within_skew_time() -> None:
    sim = lan(200, 100)
    sim.run_for(10.3)
    stop_at = sim.now
    sim.stop("r1")
    sim.run_for(2)
    t, node = last_transition_to_master(sim)
    assert node == "r2"
    assert t - stop_at <= skew_time_us(100, 100) + DELAY[1]
    assert sim.router("r2").stats.rcvd_pri_zero == 1


def test_partition_gives_one_master_per_side_and_heal_leaves_one() -> None:
    sim = lan(200, 150, 100)
    sim.run_for(10)
    sim.partition(["r1"], ["r2", "r3"])
    sim.run_for(10)
    assert sorted(sim.masters()) == ["r1", "r2"]
    assert [sorted(c) for c in sim.components()] == [["r1"], ["r2", "r3"]]
    healed_at = sim.now
    sim.heal()
    sim.run_for(10)
    assert sim.masters() == ["r1"]
    dual = sim.history.multi_master_intervals(1, end=sim.now)
    assert len(dual) == 1
    start, stop, who = dual[0]
    assert healed_at - 10 * S < start < healed_at
    assert who == {"r1", "r2"} and stop <= healed_at + S + DELAY[1]


def test_paused_master_keeps_believing_and_resolves_on_resume() -> None:
    sim = lan(200, 100, seed=11)
    sim.run_for(10)
    sim.pause("r1", 6)
    sim.run_for(5)
    assert sorted(sim.masters()) == ["r1", "r2"]
    sim.run_for(1.5)
    assert sim.masters() == ["r1"]
    assert sim.router("r1").stats.adverts_received > 0  # the queued burst was handled on resume


def test_full_loss_on_the_master_link_looks_like_a_crash_to_the_backup() -> None:
    sim = lan(200, 100)
    sim.run_for(10)
    sim.set_loss("r1", 1.0)
    sim.run_for(5)
    assert sorted(sim.masters()) == ["r1", "r2"]
    sim.clear_loss()
    sim.run_for(2)
    assert sim.masters() == ["r1"]


def test_restarted_owner_takes_over_at_once() -> None:
    sim = lan(255, 100)
    sim.run_for(3)
    assert sim.masters() == ["r1"]
    sim.crash("r1")
    sim.run_for(10)
    assert sim.masters() == ["r2"]
    restart_at = sim.now
    sim.restart("r1")
    sim.run_for(0.01)
    assert sim.masters() == ["r1"]
    assert last_transition_to_master(sim) == (restart_at, "r1")


def test_nopreempt_higher_priority_joiner_stays_backup() -> None:
    sim = lan(100, preempt=False)
    sim.add_router("r9", priority=200, address="10.0.0.9", preempt=False)
    sim.run_for(10)
    sim.start(["r9"])
    sim.run_for(30)
    assert sim.masters() == ["r1"]


def test_priority_change_makes_the_new_highest_preempt() -> None:
    sim = lan(200, 100)
    sim.run_for(10)
    sim.set_priority("r2", 250)
    sim.run_for(10)
    assert sim.masters() == ["r2"]
    assert sim.router("r2").stats.new_master_reason is not None
    assert sim.router("r2").stats.new_master_reason.value == "preempted"


def test_injected_malformed_packets_are_counted_and_change_nothing() -> None:
    sim = lan(200, 100)
    sim.run_for(10)
    good = encode(
        Advertisement(3, 1, 250, [IPv4Address("10.0.0.100")], 100),
        family=4,
        src=IPv4Address("10.0.0.66"),
        dst=IPv4Address("224.0.0.18"),
    )
    before = sim.snapshot()
    sim.inject(good[:-1], src="10.0.0.66")  # truncated
    sim.inject(good[:6] + b"\0\0" + good[8:], src="10.0.0.66")  # checksum
    sim.inject(good, src="10.0.0.66", ttl=64)  # TTL
    sim.inject(good[:1] + b"\x07" + good[2:], src="10.0.0.66")  # VRID 7 nobody runs
    sim.inject(b"\x31\x01", src="10.0.0.66")  # shorter than the VRRP header: no VRID to trust
    assert sim.snapshot() == before
    for name in ("r1", "r2"):
        assert sim.router(name).stats.discards == {"length": 1, "checksum": 1, "ttl": 1}
        assert sim.nodes[name].node_discards == {"vrid": 1, "length": 1}
    sim.inject(good, src="10.0.0.66")  # a valid higher-priority advert does change things
    assert sim.snapshot() != before


def test_two_vrids_share_a_segment_without_interfering() -> None:
    sim = Simulation(seed=2)
    for i, p in enumerate((100, 200), start=1):
        sim.add_router(f"a{i}", priority=p, address=f"10.0.0.{i}", vrid=1)
        sim.add_router(f"b{i}", priority=300 - p, address=f"10.0.0.{10 + i}", vrid=2, vips=["10.0.0.200"])
    sim.start()
    sim.run_for(10)
    assert sim.masters(vrid=1) == ["a2"] and sim.masters(vrid=2) == ["b1"]
    assert sim.nodes["a1"].node_discards["vrid"] > 0


def test_unicast_peers_only_hear_each_other() -> None:
    sim = Simulation(seed=5)
    ips = [IPv4Address(f"10.0.0.{i}") for i in (1, 2, 3)]
    sim.add_router("u1", priority=200, address="10.0.0.1", unicast_peer=(ips[1],))
    sim.add_router("u2", priority=100, address="10.0.0.2", unicast_peer=(ips[0],))
    sim.add_router("lone", priority=50, address="10.0.0.3")  # multicast, hears nobody's unicast
    sim.start()
    sim.run_for(10)
    assert sorted(sim.masters()) == ["lone", "u1"]
    # lone's adverts go to the multicast group: keepalived's "expected unicast packet" check drops them first
    assert sim.router("u1").stats.discards.get("address_list", 0) > 0
    assert sim.router("lone").stats.adverts_received == 0  # and u1/u2's unicast frames never reach it


def sync_pair(seed: int = 9) -> Simulation:
    sim = Simulation(seed=seed)

    def node(name: str, prio: int, host: int) -> None:
        cfgs = [
            RouterConfig(
                vrid=v,
                name=f"VI_{v}",
                priority=prio,
                primary_address=IPv4Address(f"10.0.{v}.{host}"),
                virtual_ipaddress=(IPv4Address(f"10.0.{v}.100"),),
                trackers=(Tracker("eth1"),) if v == 2 else (),
            )
            for v in (1, 2)
        ]
        sim.add_node(name, cfgs, segments=["ext", "int"], sync_group=["VI_1", "VI_2"])

    node("d1", 200, 1)
    node("d2", 100, 2)
    sim.start()
    sim.run_for(10)
    assert sim.masters(vrid=1) == sim.masters(vrid=2) == ["d1"]
    return sim


def test_sync_group_follows_a_member_fault_on_the_other_segment() -> None:
    sim = sync_pair()
    fault_at = sim.now
    sim.set_tracker("d1", "eth1", False, instance="VI_2")  # d1's internal link goes down
    assert sim.state("d1", "VI_1") is State.FAULT  # dragged along, sends priority 0 on ext
    sim.run_for(2)
    assert sim.masters(vrid=1) == sim.masters(vrid=2) == ["d2"]
    taken = [t.t for t in sim.history.transitions if t.node == "d2" and t.new is State.MASTER]
    assert max(taken) - fault_at <= skew_time_us(100, 100) + DELAY[1]
    sim.set_tracker("d1", "eth1", True, instance="VI_2")
    sim.run_for(10)
    assert sim.masters(vrid=1) == sim.masters(vrid=2) == ["d1"]


def test_sync_group_prefers_backup_when_only_one_member_lost_its_master() -> None:
    sim = sync_pair()
    sim.partition(["d1"], segment="int")  # silent: d1 sees no fault, d2 still hears d1 on ext
    sim.run_for(10)
    assert sim.state("d2", "VI_2") is State.BACKUP and sim.router("d2", "VI_2").want_master
    assert sim.state("d2", "VI_1") is State.BACKUP
    assert sim.masters(vrid=2) == ["d1"]


def test_bad_arguments_raise_sim_errors_naming_them() -> None:
    sim = lan(100)
    with pytest.raises(SimError, match="unknown node 'zz'"):
        sim.crash("zz")
    with pytest.raises(SimError, match="loss"):
        sim.set_loss("r1", 2.0)
    with pytest.raises(SimError, match="unknown segment"):
        sim.partition(["r1"], segment="nope")
    with pytest.raises(SimError, match="already exists"):
        sim.add_router("r1", address="10.0.0.9")
    with pytest.raises(SimError, match="two sides"):
        sim.partition(["r1"], ["r1"])


def test_paused_node_applies_a_priority_change_on_resume() -> None:
    sim = lan(200, 100)
    sim.run_for(10)
    sim.pause("r2", 1)
    sim.set_priority("r2", 250)
    assert sim.router("r2").base_priority == 100
    sim.run_for(1.5)
    assert sim.router("r2").base_priority == 250
    sim.run_for(10)
    assert sim.masters() == ["r2"]


def test_paused_node_sees_a_tracker_change_only_on_resume() -> None:
    sim = lan(200, 100, trackers=(Tracker("link", weight=0),))
    sim.run_for(10)
    assert sim.masters() == ["r1"]
    sim.pause("r1", 1)
    sent = len(sim.history.adverts)
    sim.set_tracker("r1", "link", False)
    assert sim.state("r1") is State.MASTER  # SIGSTOPped: no FAULT, no priority-0 advert, VIPs still there
    assert len(sim.history.adverts) == sent and sim.vip_holders() == ["r1"]
    sim.run_for(1.5)
    assert sim.state("r1") is State.FAULT
    sim.run_for(5)
    assert sim.masters() == ["r2"]


def test_command_line_what_if_prints_timeline_and_summary(capsys: pytest.CaptureFixture[str]) -> None:
    rc = netns_lab.sim.main(["--routers", "3", "--fault", "stop-master@10", "--duration", "15"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "r1/VI_1: MASTER -> INIT (shutdown" in out
    assert "r2/VI_1: BACKUP -> MASTER (priority_zero" in out
    assert "r2/VI_1 [up] vrid 1 on lan: MASTER" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--fault", "melt@3"], "--fault 'melt@3'"),
        (["--fault", "crash-master@soon"], "must be numbers"),
        (["--routers", "0"], "--routers"),
        (["--version", "2", "--advert-int", "0.5"], "advert_int"),
        (["--fault", "loss-master@3:1.5"], "within 0..1"),
    ],
)
def test_command_line_bad_flags_name_the_flag(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert netns_lab.sim.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and message in err and "Traceback" not in err


def test_settle_heals_resumes_and_converges() -> None:
    sim = lan(200, 100, 150)
    sim.run_for(10)
    sim.partition(["r1"])
    sim.set_loss("r2", 0.5)
    sim.pause("r3", 60)
    sim.run_for(10)
    start = sim.now
    sim.settle()
    assert sim.now - start == 2 * master_down_interval_us(1, 100) + 2 * S + 10 * DELAY[1]
    assert sim.masters() == ["r1"] and sim.components() == [{"r1", "r2", "r3"}]
    assert not any(n.paused or n.loss for n in sim.nodes.values())
