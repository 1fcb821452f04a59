"""``netns-lab demo`` is ``netns-lab run`` of the shipped master-crash scenario: run side by side on the same
scenario, the two report the same checks and figures, and their failover figures agree within a tolerance."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netns_lab.scenario import shipped_scenario

pytestmark = pytest.mark.lab

NETNS_LAB = str(Path(sys.executable).with_name("netns-lab"))


def test_demo_reports_the_figures_run_reports_for_the_crash_scenario(tmp_path: Path) -> None:
    crash = shipped_scenario("master-crash")
    procs = {  # at once: two labs side by side, each with its own prefix
        "demo": subprocess.Popen([NETNS_LAB, "demo", "--impl", "pykeepalived", "--json", "--out", str(tmp_path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "run": subprocess.Popen([NETNS_LAB, "run", str(crash), "--json", "--out", str(tmp_path / "run")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }  # fmt: skip
    out = {name: p.communicate(timeout=180) for name, p in procs.items()}
    docs = {}
    for name, (stdout, stderr) in out.items():
        assert procs[name].returncode == 0, f"{name}:\n{stderr[-3000:]}"
        docs[name] = json.loads(stdout)
    demo, run = docs["demo"], docs["run"]
    try:
        assert demo["file"] == run["file"] == str(crash)
        assert [v["check"] for v in demo["verdicts"]] == [v["check"] for v in run["verdicts"]]
        assert all(v["ok"] for v in demo["verdicts"])
        assert demo["figures"].keys() == run["figures"].keys()
        gap, bound = demo["figures"]["failover_gap.gap_0_s"], demo["figures"]["failover_gap.bound_0_s"]
        assert bound == pytest.approx(run["figures"]["failover_gap.bound_0_s"])
        assert gap == pytest.approx(run["figures"]["failover_gap.gap_0_s"], abs=0.25)
        assert gap == pytest.approx(bound, abs=demo["advert_interval_s"])
        assert demo["figures"]["client_outage.outage_s"] == pytest.approx(
            run["figures"]["client_outage.outage_s"], abs=1.0
        )
        assert all(Path(p).is_file() for p in demo["pictures"])
    finally:
        for doc in docs.values():
            shutil.rmtree(doc["log_dir"], ignore_errors=True)
