"""pytest plugin: the ``lab`` and ``lab_factory`` fixtures build a topology and always tear it down.

Enable with ``pytest_plugins = ["netns_lab.fixtures"]`` in a top-level conftest, ``-p netns_lab.fixtures``,
or by importing the fixtures into a conftest (tests/lab/conftest.py does that).

Choose the topology of ``lab`` with a marker, an indirect parameter, or get the default one::

    @pytest.mark.netns_topology({"hosts": ["a", "b"], "switches": ["s"], "links": [...]})
    def test_x(lab): ...

    @pytest.mark.parametrize("lab", [Topology.default()], indirect=True)
    def test_y(lab): ...

Logs of the processes a test starts land in the test's ``tmp_path`` (pytest keeps the last runs' ones); when
a test fails, the tail of each log is added to its failure report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from netns_lab.lab import Lab
from netns_lab.topology import Topology, TopologyError

__all__ = ["as_topology", "lab", "lab_factory", "pytest_configure", "pytest_runtest_makereport"]

MARKER = "netns_topology"
_LABS = pytest.StashKey[list[Lab]]()
_TAIL_LINES = 25


def as_topology(description: Topology | Mapping[str, Any] | str | Path | None) -> Topology:
    """A Topology from a Topology, a dict description, a JSON file path, or None (the default topology)."""
    if description is None:
        return Topology.default()
    if isinstance(description, Topology):
        return description
    if isinstance(description, Mapping):
        return Topology.from_dict(description)
    if isinstance(description, str | Path):
        path = Path(description)
        try:
            data = json.loads(path.read_text())
        except OSError as exc:
            raise TopologyError(f"{path}: cannot read topology file: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise TopologyError(f"{path}:{exc.lineno}: not valid JSON: {exc.msg}") from None
        return Topology.from_dict(data, source=str(path))
    raise TopologyError(f"cannot make a topology from {type(description).__name__}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(description): topology (Topology, dict or JSON path) for `lab`"
    )


def log_tails(labs: list[Lab], lines: int = _TAIL_LINES) -> str:
    """The last ``lines`` lines of every process log of ``labs`` (for failure reports)."""
    out = []
    for built in labs:
        for proc in built.processes:
            tail = proc.log_text().splitlines()[-lines:]
            state = "running" if proc.running() else f"exited {proc.returncode}"
            out.append(f"--- {proc.host}/{proc.name} ({state}) {proc.log_path}")
            out.extend(tail)
    return "\n".join(out)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call" and report.failed:
        text = log_tails(item.stash.get(_LABS, []))
        if text:
            report.sections.append(("netns_lab process logs (tails)", text))
    return report


@pytest.fixture
def lab_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Lab]]:
    """``make(description=None, *, prefix=None) -> Lab``: build labs; all are torn down after the test."""
    labs: list[Lab] = []
    request.node.stash[_LABS] = labs

    def make(
        description: Topology | Mapping[str, Any] | str | Path | None = None, *, prefix: str | None = None
    ) -> Lab:
        topo = as_topology(description)
        new = Lab(topo, prefix=prefix, log_dir=tmp_path / f"lab{len(labs)}-{topo.name}")
        labs.append(new)
        new.__enter__()
        return new

    try:
        yield make
    finally:
        for built in reversed(labs):
            built.teardown()


@pytest.fixture
def lab(request: pytest.FixtureRequest, lab_factory: Callable[..., Lab]) -> Lab:
    """A built lab: topology from an indirect parameter, else the ``netns_topology`` marker, else default."""
    description = getattr(request, "param", None)
    if description is None:
        marker = request.node.get_closest_marker(MARKER)
        if marker is not None:
            description = marker.args[0] if marker.args else marker.kwargs.get("description")
    return lab_factory(description)
