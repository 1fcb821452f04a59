"""``compare`` on the crash and split-brain scenarios: keepalived 2.2.7 and our daemon run the same scenario
file, and every expectation gets the same verdict for both (the figures differ by scheduling noise only)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from netns_lab.report import compare_table
from netns_lab.runner import run_scenario
from netns_lab.scenario import load_scenario
from netns_lab.timeline import Run, draw_compare

pytestmark = pytest.mark.interop

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["master-crash", "split-brain"])
def test_compare_gives_the_same_verdicts_for_both(name: str, tmp_path: Path) -> None:
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml")
    runs = [run_scenario(scenario, impl=impl, log_dir=tmp_path / impl) for impl in ("keepalived", "pykeepalived")]
    ka, ours = runs
    assert [(v.check, v.ok) for v in ka.verdicts] == [(v.check, v.ok) for v in ours.verdicts], (
        ka.summary() + "\n" + ours.summary()
    )
    assert ka.ok, ka.summary()
    assert ours.ok, ours.summary()
    out = io.StringIO()
    compare_table(list(runs), out)
    assert "keepalived" in out.getvalue() and "pykeepalived" in out.getvalue()
    end = max(ka.context.end, ours.context.end)
    png, svg = draw_compare(Run("keepalived", ka.history, end), Run("pykeepalived", ours.history, end), tmp_path / "c")
    assert png.stat().st_size > 10_000 and "pykeepalived" in svg.read_text()
