"""Cutting one soak into shards (``netns_lab.soak``): every example goes to exactly one shard of one machine,
every shard of a soak has its own seed and database, bad ``--soak-shard`` values are refused with what is
expected, and the pytest plugin parametrizes a ``soak_shard`` test over this machine's shards."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from netns_lab.soak import SoakPlan, parse_machine_shard


@given(st.integers(0, 500), st.integers(1, 6), st.integers(1, 4), st.integers(0, 2**30))
def test_a_soak_is_split_exactly_over_machines_and_shards(examples: int, machines: int, shards: int,
                                                          seed: int) -> None:  # fmt: skip
    all_shards = [sh for m in range(machines)
                  for sh in SoakPlan(examples, m, machines, shards, seed, Path("db")).local_shards()]  # fmt: skip
    assert sum(sh.examples for sh in all_shards) == examples
    assert max(sh.examples for sh in all_shards) - min(sh.examples for sh in all_shards) <= 1
    assert len({sh.seed for sh in all_shards}) == len(all_shards) == machines * shards
    assert len({sh.database for sh in all_shards}) == len(all_shards)
    assert all(sh.database.parent == Path("db") for sh in all_shards)


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "-1/2", "0/0"])
def test_a_bad_machine_shard_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="expected I/N with 0 <= I < N"):
        parse_machine_shard(text)
    assert parse_machine_shard("1/3") == (1, 3)


USER_TEST = textwrap.dedent("""
    def test_soak(soak_shard):
        assert soak_shard.examples >= 0
""")


def _collect(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_user_soak.py").write_text(USER_TEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-p", "no:cacheprovider",
                           "test_user_soak.py", *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip


def test_the_plugin_parametrizes_a_soak_over_this_machines_shards(tmp_path: Path) -> None:
    cp = _collect(tmp_path, "--soak-shard", "1/3", "--soak-shards", "4", "--soak-examples", "10")
    assert cp.returncode == 0, cp.stdout + cp.stderr
    ids = [line.split("[")[1].rstrip("]") for line in cp.stdout.splitlines() if "::test_soak[" in line]
    assert ids == [f"m1of3-s{k}of4" for k in range(4)]
    bad = _collect(tmp_path, "--soak-shard", "3/3")
    assert bad.returncode != 0 and "--soak-shard '3/3': expected I/N" in bad.stdout + bad.stderr
