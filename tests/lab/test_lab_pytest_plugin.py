"""The pytest plugin as a user runs it: the README's example test, written to a directory outside the project's
tests and run with plain ``pytest`` (the plugin comes from its ``pytest11`` entry point; no conftest), passes;
with its assertion broken it fails, and the report names the timeline picture, which exists."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    m = re.search(r"<!-- plugin-example -->\n```python\n(.*?)```\n<!-- /plugin-example -->", text, re.DOTALL)
    assert m, "README.md has no plugin example"
    return m.group(1)


def run_pytest(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_my_keepalived.py").write_text(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "XDIST_"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_my_keepalived.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180, check=False)  # fmt: skip


def test_the_readme_example_passes_as_a_user_runs_it(tmp_path: Path) -> None:
    cp = run_pytest(tmp_path, readme_example())
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "1 passed" in cp.stdout


def test_a_broken_assertion_fails_with_the_timeline_attached(tmp_path: Path) -> None:
    source = readme_example()
    assert 'run.wait_master("lb2", timeout=10)' in source
    wrong = "    assert run.master() == 'lb1', 'wrong on purpose'\n"
    broken = source.replace("    run.wait(1)\n", "    run.wait(1)\n" + wrong)
    cp = run_pytest(tmp_path, broken)
    assert cp.returncode == 1, cp.stdout + cp.stderr
    assert "wrong on purpose" in cp.stdout and "netns-lab timeline" in cp.stdout, cp.stdout
    pngs = re.findall(r"^(/\S+\.png)$", cp.stdout, re.MULTILINE)
    assert pngs and Path(pngs[0]).stat().st_size > 1000, cp.stdout
