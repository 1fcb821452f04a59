"""Generate docs/conformance.md (item -> tests -> status) from the conformance-marked tests and items.py.

Usage (from anywhere; paths are resolved from this file)::

    .venv/bin/python tests/conformance/table.py           # (re)write docs/conformance.md
    .venv/bin/python tests/conformance/table.py --check   # exit 1 when docs/conformance.md is stale

Why pytest's own collector: markers can sit on functions, classes, modules (``pytestmark``) or come through
parametrization and Hypothesis wrappers; asking pytest (``--collect-only`` with a small plugin) sees exactly
what CI runs, with no parallel re-implementation of test discovery.

Convention violations (unknown item id, missing or bad ``polarity``, an unexplained gap) are reported with the
test's file and line, and the command exits 2 without writing anything.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib.util
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DOC = ROOT / "docs" / "conformance.md"
POLARITIES = ("positive", "negative")
COMMAND = "python tests/conformance/table.py"


def _load_items() -> ModuleType:
    """Import items.py by path (tests/ is not a package, and the generic name must not shadow anything)."""
    spec = importlib.util.spec_from_file_location("_conformance_items", HERE / "items.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@dataclass
class Marked:
    """One test function (parametrizations folded) and where it is, for the table and for error messages."""

    ref: str  # "test_codec_checksum.py::test_19_..." (class included when there is one)
    where: str  # "tests/conformance/test_codec_checksum.py:42"


@dataclass
class Collected:
    """What the collector plugin saw: (item id, polarity) -> tests, plus convention errors."""

    tests: dict[tuple[str, str], dict[str, Marked]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class _Plugin:
    """pytest plugin that records every ``conformance`` marker of the collected items."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.out = Collected()

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.out.errors.append(f"{report.nodeid}: collection error:\n{report.longrepr}")

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            path, line, _ = item.location
            where = f"{path}:{(line or 0) + 1}"
            base = item.nodeid.split("[", 1)[0]
            ref = Path(base.split("::", 1)[0]).name + "::" + base.split("::", 1)[1]
            marks = list(item.iter_markers("conformance"))
            ids = [str(m.args[0]) for m in marks if m.args]
            name = getattr(item, "originalname", item.name)
            prefixes = ["test_" + i.replace("-", "_") + "_" for i in ids]
            if marks and not any(name.startswith(p) for p in prefixes):
                self.out.errors.append(f"{where}: {name} must start with one of {prefixes} (it shows those items)")
            for mark in marks:
                self._record(mark, Marked(ref, where), where)

    def _record(self, mark: Any, marked: Marked, where: str) -> None:
        args, kwargs = mark.args, dict(mark.kwargs)
        if len(args) != 1 or not isinstance(args[0], str):
            self.out.errors.append(f"{where}: conformance marker needs exactly one item id string, got {args!r}")
            return
        item_id = args[0]
        polarity = kwargs.pop("polarity", None)
        if kwargs:
            self.out.errors.append(f"{where}: unknown conformance marker argument(s) {sorted(kwargs)}")
        if item_id not in self.known:
            self.out.errors.append(f"{where}: unknown conformance item {item_id!r} (see tests/conformance/items.py)")
            return
        if polarity not in POLARITIES:
            self.out.errors.append(
                f"{where}: conformance({item_id!r}) needs polarity='positive' or 'negative', got {polarity!r}"
            )
            return
        self.out.tests.setdefault((item_id, polarity), {})[marked.ref] = marked


def collect(paths: list[str], known: set[str]) -> Collected:
    """Collect ``paths`` with pytest (nothing runs) and return the conformance markers found."""
    plugin = _Plugin(known)
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT), *paths]
    with contextlib.redirect_stdout(io.StringIO()) as captured:
        code = pytest.main(args, plugins=[plugin])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and not plugin.out.errors:
        plugin.out.errors.append(f"pytest --collect-only failed ({code!r}):\n{captured.getvalue()[-2000:]}")
    return plugin.out


def _cell(tests: dict[str, Marked]) -> str:
    return "<br>".join(f"`{ref}`" for ref in sorted(tests)) or "—"


def render(items: ModuleType, got: Collected) -> tuple[str, list[str]]:
    """The markdown table and the list of unexplained gaps (errors)."""
    errors: list[str] = []
    rows: list[str] = []
    counts = {"covered": 0, "partial": 0, "n/a": 0, "gap": 0}
    for it in items.ITEMS:
        pos = got.tests.get((it.id, "positive"), {})
        neg = got.tests.get((it.id, "negative"), {})
        if pos and neg:
            status, note = "covered", ""
        elif pos or neg:
            status = "partial"
            note = f"no {'negative' if pos else 'positive'} test yet" + (f"; {it.gap}" if it.gap else "")
        elif it.na:
            status, note = "n/a", it.na
        else:
            status, note = "gap", it.gap
            if not it.gap:
                errors.append(f"tests/conformance/items.py: item {it.id!r} has no test and no gap= explanation")
        counts[status] += 1
        title = it.title.replace("|", "\\|")
        rows.append(
            f"| {it.id} | {it.section} | {it.level} | {title} | **{status}** | {_cell(pos)} | {_cell(neg)} "
            f"| {note.replace('|', '/')} |"
        )
    summary = ", ".join(f"{name} {n}" for name, n in counts.items())
    text = "\n".join(
        [
            "# VRRP conformance table",
            "",
            f"Generated by `{COMMAND}` from the tests marked `@pytest.mark.conformance(...)` and from",
            "`tests/conformance/items.py`; do not edit by hand (convention: tests/conformance/README.md).",
            "Items 1-63 are the requirements of RFC 9568 (section in the § column); `v2-*` are the VRRPv2 differences "
            "of RFC 3768.",
            "",
            f"{len(items.ITEMS)} items: {summary}.",
            "",
            "| item | § | level | requirement | status | positive tests | negative tests | note |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
    return text, errors


def staleness(path: Path, text: str) -> str | None:
    """None when ``path`` holds exactly ``text``; otherwise what to run and the start of the diff."""
    current = path.read_text() if path.exists() else ""
    if current == text:
        return None
    diff = difflib.unified_diff(current.splitlines(), text.splitlines(), str(path), "generated", lineterm="")
    return f"{path} is out of date; regenerate it with: {COMMAND}\n" + "\n".join(list(diff)[:60])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/conformance.md is out of date")
    parser.add_argument("--output", type=Path, default=DOC, help="file to write or check (default: %(default)s)")
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "tests")], help="test paths to collect")
    ns = parser.parse_args(argv)
    items = _load_items()
    got = collect(ns.paths, set(items.BY_ID))
    text, gap_errors = render(items, got)
    errors = got.errors + gap_errors
    if errors:
        print("conformance table: convention errors, nothing written:", file=sys.stderr)
        for err in errors:
            print(f"  {err}", file=sys.stderr)
        return 2
    if ns.check:
        stale = staleness(ns.output, text)
        if stale is None:
            return 0
        print(stale, file=sys.stderr)
        return 1
    ns.output.parent.mkdir(parents=True, exist_ok=True)
    ns.output.write_text(text)
    print(f"wrote {ns.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
