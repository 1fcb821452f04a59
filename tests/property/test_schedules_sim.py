"""Drawn fault schedules in the simulator: thousands per run, every applicable checker passes on each; a
deliberately broken router (ignores priority-0 adverts) is caught and the failing schedule shrinks to one
graceful stop; a drawn schedule's scenario file loads with the scenario loader and holds the same faults."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, find, given, settings

from netns_lab.broken_daemon import ignore_priority_zero
from netns_lab.crosscheck import run_sim
from netns_lab.scenario import load_scenario, parse_scenario
from netns_lab.schedules import Episode, Schedule, assert_holds, check, from_scenario, replay, scenario_yaml, schedules
from netns_lab.schedules import main as schedules_main

US = 1_000_000


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(schedules())
def test_every_checker_passes_on_thousands_of_drawn_schedules(tmp_path_factory: pytest.TempPathFactory,
                                                              s: Schedule) -> None:  # fmt: skip
    assert_holds(s, failure_dir=tmp_path_factory.getbasetemp() / "drawn", executor="sim")


def _fails(s: Schedule) -> bool:
    return not all(v.ok for v in check(s, run_sim(s.script(), seed=s.seed), round(s.duration * US)))


def test_a_router_that_ignores_priority_zero_is_caught_and_shrinks_to_one_graceful_stop() -> None:
    with ignore_priority_zero():
        found = find(schedules(), _fails, settings=settings(max_examples=2000, database=None, deadline=None))
    assert [(e.kind, e.role) for e in found.episodes] == [("stop", "master")], found.describe()
    assert len(found.priorities) == 2
    v = {x.check: x for x in check(found, run_sim(found.script(), seed=found.seed), round(found.duration * US))}
    assert v["failover_gap"].ok  # the same schedule passes with the real router
    with ignore_priority_zero():
        h = run_sim(found.script(), seed=found.seed)
    bad = {x.check: x for x in check(found, h, round(found.duration * US))}
    assert not bad["failover_gap"].ok and "OUTSIDE" in " ".join(bad["failover_gap"].evidence)


def test_a_drawn_schedule_is_a_loadable_scenario_with_the_same_faults(tmp_path: Path) -> None:
    s = Schedule((200, 150, 100), 3, 0.2, (Episode("pause", "master", 1.5), Episode("loss", "backup", 2.0, 0.5),
                                          Episode("priority", "master", 1.0, 120), Episode("reload", "backup", 1)),
                 seed=7)  # fmt: skip
    path = tmp_path / "drawn.yaml"
    path.write_text(scenario_yaml(s))
    sc = parse_scenario(path.read_text(), path)
    assert [r.host for r in sc.routers] == ["r1", "r2", "r3"]
    got = [(f.at, f.kind, f.target or ",".join(f.targets)) for f in sc.schedule()]
    t0 = s.settled_at
    (a, _), (b, _), (c, _), (d, _) = s.timed()
    assert got == [
        (round(a - t0, 3), "pause", "r1"), (round(a - t0 + 1.5, 3), "resume", "r1"),
        (round(b - t0, 3), "loss", "r3"), (round(b - t0 + 2.0, 3), "clear-loss", "r3"),
        (round(c - t0, 3), "priority", "r1"), (round(c - t0 + 1.0, 3), "priority", "r1"),
        (round(d - t0, 3), "reload", "r3"),
    ]  # fmt: skip
    assert {e.check for e in sc.expect} == {"one_master", "dual_master_only_under_fault", "final_master",
                                            "failover_gap"}  # partial loss: transitions_per_fault does not apply
    assert "priority 200" in sc.router("r1").config and "advert_int 0.2" in sc.router("r1").config


@settings(max_examples=200, deadline=None, database=None)
@given(schedules())
def test_a_printed_schedule_reads_back_as_the_same_schedule(s: Schedule) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.yaml"
        path.write_text(scenario_yaml(s))
        assert from_scenario(load_scenario(path)) == s


def test_a_failure_found_by_the_broken_router_replays_from_its_file(tmp_path: Path) -> None:
    s = Schedule((200, 100), 3, 0.5, (Episode("stop", "master", 1.0),), seed=11)
    with ignore_priority_zero(), pytest.raises(AssertionError, match="failover_gap") as err:
        assert_holds(s, failure_dir=tmp_path, executor="sim")
    path = tmp_path / "drawn-11.yaml"
    assert f"replay: netns-lab run {path}" in str(err.value)
    with ignore_priority_zero():
        assert not {v.check: v for v in replay(path)}["failover_gap"].ok
        assert schedules_main([str(path)]) == 1
    assert all(v.ok for v in replay(path))  # the real router passes the same file
    assert schedules_main([str(path)]) == 0
