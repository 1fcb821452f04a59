"""Drawn fault schedules in the real lab (Hypothesis; ``--hypothesis-profile soak`` for a long run): every
applicable checker passes after each; a broken daemon (ignores priority-0 adverts) is caught, its failing
schedule printed as a scenario file that loads and replays the failure in the lab and the simulator; and the
simulator, replaying the lab's step times, agrees with the lab on the verdicts and the per-router transitions
(within one advert interval + 0.15 s), except where :func:`netns_lab.schedules.caveats` says why they may differ."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, note, settings

from netns_lab.broken_daemon import ignore_priority_zero
from netns_lab.crosscheck import run_lab, run_sim
from netns_lab.scenario import load_scenario
from netns_lab.schedules import (
    Episode,
    Schedule,
    agreement,
    assert_holds,
    lab_examples,
    replay,
    scenario_yaml,
    schedules,
)
from netns_lab.soak import Shard, run_shard

pytestmark = pytest.mark.lab

#: how far a lab transition may lie from the simulated one beyond one advert interval (timer phase)
REACTION_S = 0.15
BROKEN = (sys.executable, "-m", "netns_lab.broken_daemon")
# each example is a real run of 10-40 s: no shrinking in CI (the simulator's tests show it shrinks); under CI the
# examples are derandomized, so a red CI run is the same schedules on the next run (exploration is the soak's job)
LAB = settings(max_examples=lab_examples(), deadline=None, suppress_health_check=list(HealthCheck),
               phases=(Phase.explicit, Phase.reuse, Phase.generate),
               derandomize=os.environ.get("CI") == "true")  # fmt: skip


def test_drawn_schedules_pass_every_checker_in_the_lab(tmp_path_factory: pytest.TempPathFactory,
                                                       soak_shard: Shard) -> None:  # fmt: skip
    """One shard of the soak (``netns_lab.soak``: ``pytest -n 2`` runs the shards at once; ``--soak-shard I/N``
    cuts it over machines); its seed and Hypothesis database are its own."""
    if not soak_shard.examples:
        pytest.skip(f"shard {soak_shard.id}: the soak's {lab_examples()} examples went to other shards")
    failures = tmp_path_factory.getbasetemp() / "drawn"

    def holds(s: Schedule, prefixes: list[str]) -> None:
        assert_holds(s, failure_dir=failures, prefixes=prefixes)

    run_shard(soak_shard, schedules(max_episodes=2, max_duration=2.0), holds)


def test_a_daemon_that_ignores_priority_zero_is_caught_with_a_replayable_scenario(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    out = tmp_path_factory.mktemp("broken")

    @settings(max_examples=1, deadline=None, database=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(schedules(kinds=("stop",), roles=("master",), min_episodes=1, max_episodes=1, advert_ints=(0.5,),
                     versions=(3,), max_duration=1.0))  # fmt: skip
    def drawn(s: Schedule) -> None:
        assert_holds(s, failure_dir=out, entry=BROKEN)

    with pytest.raises(AssertionError, match="failover_gap") as err:
        drawn()
    text = str(err.value)
    assert "OUTSIDE" in text and "seed" in text
    m = re.search(r"replay: netns-lab run (\S+)", text)
    assert m, text
    path = Path(m.group(1))
    sc = load_scenario(path)
    assert [f.kind for f in sc.schedule()] == ["stop", "start"]
    assert "failover_gap" in {e.check for e in sc.expect}
    # the printed file replays the failure, in the lab and in the simulator
    assert not {v.check: v for v in replay(path, executor="lab", entry=BROKEN)}["failover_gap"].ok
    with ignore_priority_zero():
        assert not {v.check: v for v in replay(path, executor="sim")}["failover_gap"].ok


@LAB
@given(schedules(kinds=("kill", "stop", "pause", "isolate", "reload", "priority"), max_episodes=2,
                 max_duration=2.0))  # fmt: skip
def test_the_simulator_agrees_with_the_lab_on_drawn_schedules(s: Schedule) -> None:
    note(s.describe())
    script = s.script()
    lab = run_lab(script)
    sim = run_sim(script, lab.step_times, end=lab.end, seed=s.seed)
    a = agreement(s, lab.history, lab.end, sim, tolerance=s.advert_int + REACTION_S)
    note("caveats: " + "; ".join(a.caveats))
    assert a.ok, "\n".join(a.problems) + "\n\nsim:\n" + sim.timeline() + "\n\nlab:\n" + lab.history.timeline()
    assert all(v.ok for v in a.verdicts_lab), [str(v) for v in a.verdicts_lab]


def test_a_printed_schedule_replays_with_netns_lab_run(tmp_path: Path) -> None:
    s = Schedule((200, 100), 3, 0.5, (Episode("stop", "master", 1.0),), seed=11)
    path = tmp_path / "drawn-11.yaml"
    path.write_text(scenario_yaml(s, failover_tolerance=s.advert_int + 0.1))
    cp = subprocess.run([str(Path(sys.executable).with_name("netns-lab")), "run", str(path), "--out", str(tmp_path)],
                        capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "drawn-11 with pykeepalived: PASS" in cp.stdout
    assert "ok   failover_gap" in cp.stdout
