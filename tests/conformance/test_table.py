"""The generated conformance table is current, and the generator enforces the marker convention.

These run ``tests/conformance/table.py`` in a subprocess: it drives pytest's collector itself, which must not
run inside this pytest process.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
TABLE = ROOT / "tests" / "conformance" / "table.py"


def _load_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_conformance_table", TABLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve through sys.modules
    spec.loader.exec_module(module)
    return module


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TABLE), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_docs_conformance_md_is_up_to_date() -> None:
    result = _run("--check")
    assert result.returncode == 0, (
        "docs/conformance.md does not match the conformance-marked tests; regenerate it with "
        f"`python tests/conformance/table.py`.\n{result.stderr}"
    )


def test_generator_rejects_marker_convention_violations(tmp_path: Path) -> None:
    bad = tmp_path / "test_bad_markers.py"
    bad.write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.conformance("999", polarity="positive")
            def test_999_unknown_item(): pass

            @pytest.mark.conformance("19")
            def test_19_missing_polarity(): pass

            @pytest.mark.conformance("19", polarity="sideways")
            def test_19_bad_polarity(): pass

            @pytest.mark.conformance("19", polarity="positive")
            def test_checksum_without_item_prefix(): pass
            """
        )
    )
    out = tmp_path / "table.md"
    result = _run("--output", str(out), str(bad))
    assert result.returncode == 2
    assert "unknown conformance item '999'" in result.stderr
    assert "test_bad_markers.py:4:" in result.stderr  # file and line of the offending test (its decorator)
    assert "needs polarity" in result.stderr and "'sideways'" in result.stderr
    assert "test_checksum_without_item_prefix must start with one of ['test_19_']" in result.stderr
    assert not out.exists()


def test_generator_reports_partial_and_covered_rows(tmp_path: Path) -> None:
    good = tmp_path / "test_some_items.py"
    good.write_text(
        textwrap.dedent(
            """
            import pytest

            @pytest.mark.conformance("10", polarity="positive")
            @pytest.mark.parametrize("x", [1, 2])
            def test_10_pos(x): pass

            @pytest.mark.conformance("10", polarity="negative")
            def test_10_neg(): pass

            class TestEleven:
                @pytest.mark.conformance("11", polarity="positive")
                @pytest.mark.conformance("12", polarity="negative")
                def test_11_pos_and_12_neg(self): pass
            """
        )
    )
    out = tmp_path / "table.md"
    assert _run("--output", str(out), str(good)).returncode == 0
    rows = {line.split("|")[1].strip(): line for line in out.read_text().splitlines() if line.startswith("| ")}
    assert "**covered**" in rows["10"]
    assert rows["10"].count("test_10_pos") == 1  # parametrized test listed once
    assert "**partial**" in rows["11"] and "no negative test yet" in rows["11"]
    assert "TestEleven::test_11_pos_and_12_neg" in rows["11"] and "**partial**" in rows["12"]
    assert "**gap**" in rows["4"] and "ROUTER" in rows["4"]  # unexplained gaps are refused, so a note is there
    assert "**n/a**" in rows["1"]
    # The stale check: equal text passes, anything else names the command that fixes it.
    table = _load_table()
    assert table.staleness(out, out.read_text()) is None
    stale = table.staleness(out, out.read_text().replace("**covered**", "**gap**", 1))
    assert stale is not None and "python tests/conformance/table.py" in stale and "-| 10 |" in stale
