"""Scale: two pytest-xdist workers run lab scenarios at once without colliding. A test file outside the
project's tests (in a temporary directory) runs the three-router crosscheck script in the lab, once per test;
``pytest -n 2`` runs the two tests in two workers, each lab under its worker's name prefix (w0..., w1...), and
both pass, at overlapping times.  And one soak of drawn schedules, cut into two shards (``netns_lab.soak``), runs
on two workers at once: each shard its own seed, lab prefixes and Hypothesis database, both results collected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

USER_TEST = textwrap.dedent('''
    import json, os, time
    from pathlib import Path

    import pytest

    from netns_lab.crosscheck import compare, run_lab, run_sim, three_routers
    from netns_lab.lab import Lab

    OUT = Path(os.environ["XDIST_OUT"])
    _free = Lab._free_prefix
    used = []

    def spy():
        p = _free()
        used.append(p)
        return p

    @pytest.mark.parametrize("n", [1, 2])
    def test_scenario(n, tmp_path, monkeypatch):
        monkeypatch.setattr(Lab, "_free_prefix", staticmethod(spy))
        t0 = time.time()
        script = three_routers()
        lab = run_lab(script, log_dir=tmp_path)
        sim = run_sim(script, lab.step_times, end=lab.end)
        problems = compare(sim, lab.history, [r.name for r in script.routers], tolerance=script.advert_int + 0.15)
        (OUT / f"{n}.json").write_text(json.dumps({"worker": os.environ.get("PYTEST_XDIST_WORKER"),
                                                  "prefixes": used, "start": t0, "end": time.time()}))
        assert not problems, problems
''')


ROOT = Path(__file__).resolve().parents[2]


def _clean_env() -> dict[str, str]:
    """This environment without the outer pytest's (or outer xdist worker's) variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))}


def test_two_xdist_workers_run_lab_scenarios_at_once_without_collisions(tmp_path: Path) -> None:
    (tmp_path / "test_user_soak.py").write_text(USER_TEST)
    out = tmp_path / "out"
    out.mkdir()
    cp = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "test_user_soak.py"],
        cwd=tmp_path, env={**_clean_env(), "XDIST_OUT": str(out)},
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "2 passed" in cp.stdout
    runs = [json.loads((out / f"{n}.json").read_text()) for n in (1, 2)]
    assert {r["worker"] for r in runs} == {"gw0", "gw1"}
    for r in runs:
        assert r["prefixes"] and all(p.startswith("w" + r["worker"][2:]) for p in r["prefixes"]), r
    assert not set(runs[0]["prefixes"]) & set(runs[1]["prefixes"])
    a, b = runs
    assert a["start"] < b["end"] and b["start"] < a["end"], "the two workers' lab runs did not overlap"


def test_two_xdist_workers_run_one_soak_without_collisions(tmp_path: Path) -> None:
    out, db = tmp_path / "results", tmp_path / "db"
    cp = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", "tests/lab/test_lab_schedules.py",
         "-k", "test_drawn_schedules_pass_every_checker_in_the_lab", "--soak-examples", "2", "--soak-seed", "7",
         "--soak-db", str(db), "--soak-results", str(out)],
        cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "2 passed" in cp.stdout, cp.stdout
    shards = {p.stem: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}
    assert set(shards) == {"m0of1-s0of2", "m0of1-s1of2"}, shards
    a, b = shards.values()
    assert {a["worker"], b["worker"]} == {"gw0", "gw1"}
    for r in (a, b):
        assert r["failure"] is None and r["examples"] == 1 and len(r["schedules"]) == 1, r
        assert r["prefixes"] and all(p.startswith("w" + r["worker"][2:]) for p in r["prefixes"]), r
        assert (db / r["shard"]).is_dir(), "each shard keeps its own Hypothesis database"
    assert a["seed"] != b["seed"]
    assert not set(a["prefixes"]) & set(b["prefixes"])
    assert a["start"] < b["end"] and b["start"] < a["end"], "the two shards did not run at overlapping times"
