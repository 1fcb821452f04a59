"""The import rules of the architecture (docs/architecture.md), checked on the source as it stands.

Why a test: the layout only stays a layout while the arrows point one way.  Ruff and mypy cannot see that a
sans-IO module started reading a clock, or that ``vrrp`` reached into ``pykeepalived``; this test reads every
module's imports (module level and inside functions, but not ``if TYPE_CHECKING:`` blocks) and fails with the
file and line of each import that breaks a rule:

1. ``*/core`` (the sans-IO rooms) import no asyncio, pyroute2, subprocess, threading, selectors,
   multiprocessing, or clock module (``time``): events come in with an explicit ``now``;
2. ``vrrp``, ``ipvs`` and ``checkers`` never import each other, ``pykeepalived`` or ``netns_lab``;
3. ``pykeepalived`` never imports ``netns_lab`` (the lab runs daemons as processes);
4. no cycle among the project's modules, counting imports inside functions too (a lazy import hides a
   cycle from Python, not from the reader).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("vrrp", "ipvs", "checkers", "pykeepalived", "netns_lab")
#: What a sans-IO core may not load: I/O, concurrency, or a clock.
CORE_FORBIDDEN = ("asyncio", "pyroute2", "subprocess", "threading", "selectors", "multiprocessing", "time")
#: package -> the project packages it must not import.
FORBIDDEN_ARROWS = {
    "vrrp": ("ipvs", "checkers", "pykeepalived", "netns_lab"),
    "ipvs": ("vrrp", "checkers", "pykeepalived", "netns_lab"),
    "checkers": ("vrrp", "ipvs", "pykeepalived", "netns_lab"),
    "pykeepalived": ("netns_lab",),
}


@dataclass(frozen=True)
class Import:
    """``module`` (dotted, resolved) imported by ``source`` at ``line``; ``top`` when at module level."""

    source: Path
    line: int
    module: str
    top: bool


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(path: Path, package: str) -> list[Import]:
    """Every import of ``path``; relative imports resolve against ``package`` (the module's own package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for sub in child.orelse:
                    visit(sub, top)
                continue
            if isinstance(child, ast.Import):
                found.extend(Import(path, child.lineno, alias.name, top) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append(Import(path, child.lineno, base, top))
                # ``from pkg import module`` imports a module too
                found.extend(Import(path, child.lineno, f"{base}.{alias.name}", top) for alias in child.names)
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            visit(child, inner)

    visit(tree, True)
    return found


def _sources() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _package(path: Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


ALL = {p: _imports(p, _package(p)) for p in _sources()}
MODULES = {_module_name(p) for p in ALL}


def _where(imp: Import) -> str:
    where = imp.source.relative_to(ROOT) if imp.source.is_relative_to(ROOT) else imp.source
    return f"{where}:{imp.line}: imports {imp.module}"


def _top(name: str) -> str:
    return name.split(".")[0]


def test_the_rules_see_every_package() -> None:
    """A rule over an empty set cannot fail: every package has modules, and cores exist where the design has them."""
    for pkg in PACKAGES:
        assert any(m == pkg or m.startswith(pkg + ".") for m in MODULES), pkg
    assert any(m.startswith("vrrp.core.") for m in MODULES)


def _violations(name: str, imports: list[Import]) -> list[str]:
    """The imports of module ``name`` that break rule 1, 2 or 3, each as file:line."""
    in_core = "core" in name.split(".")
    return [
        _where(imp)
        for imp in imports
        if (in_core and _top(imp.module) in CORE_FORBIDDEN)
        or _top(imp.module) in FORBIDDEN_ARROWS.get(_top(name), ())
    ]


def test_import_rules() -> None:
    broken = [v for path, imports in ALL.items() for v in _violations(_module_name(path), imports)]
    assert not broken, "\n".join(broken)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, sorted(graph[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, todo = work[-1]
            if todo:
                nxt = todo.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, sorted(graph.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    comp.append(member)
                    if member == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path, imports in ALL.items():
        name = _module_name(path)
        targets = {i.module for i in imports if i.module in MODULES}
        graph[name] = {t for t in targets if t != name and not name.startswith(t + ".")}
    return graph


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_can_fail() -> None:
    """The detector itself: a two-module loop and a self-contained chain."""
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_rules_catch_planted_violations(tmp_path: Path) -> None:
    """A core module that reads the clock inside a function, and vrrp reaching into pykeepalived, are reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("import ipaddress\nfrom . import sibling\n\ndef f():\n    import time\n"
                   "if TYPE_CHECKING:\n    import asyncio\n")
    imps = _imports(bad, "vrrp.core")
    assert [(i.line, i.module, i.top) for i in imps] == [
        (1, "ipaddress", True), (2, "vrrp.core", True), (2, "vrrp.core.sibling", True), (5, "time", False)]
    assert [v.rsplit(": ", 1)[1] for v in _violations("vrrp.core.bad", imps)] == ["imports time"]
    assert _violations("vrrp.io.bad", imps) == []
    arrow = [Import(bad, 3, "pykeepalived.config", True)]
    assert len(_violations("vrrp.io.bad", arrow)) == 1
    assert _violations("pykeepalived.daemon", [Import(bad, 3, "vrrp.core.router", True)]) == []
