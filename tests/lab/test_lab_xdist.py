"""Scale: two pytest-xdist workers run lab scenarios at once without colliding. A test file outside the
project's tests (in a temporary directory) runs the three-router crosscheck script in the lab, once per test;
``pytest -n 2`` runs the two tests in two workers, each lab under its worker's name prefix (w0..., w1...), and
both pass, at overlapping times."""

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
