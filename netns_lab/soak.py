"""One soak of drawn fault schedules, sharded across processes and machines.

A soak is many Hypothesis-drawn schedules, each a real lab run of tens of seconds: when one machine is too slow,
the soak is cut into **shards**.  A shard is one pytest item (so pytest-xdist's workers take shards, ``pytest -n
K``), with a Hypothesis seed of its own (so shards draw different schedules), its share of the examples, and a
Hypothesis database directory of its own (so a rerun of the shard replays what it found, and no two workers
write one database).  Each worker's labs carry that worker's name prefix (:meth:`netns_lab.lab.Lab._free_prefix`).
Across machines, ``--soak-shard I/N`` gives machine I its part: the soak's shards are numbered over all
machines, so with the same ``--soak-seed`` on every machine no two shards draw the same schedules::

    pytest tests/lab/test_lab_schedules.py -k drawn -n 2 --hypothesis-profile soak            # one machine
    pytest ... -n 2 --hypothesis-profile soak --soak-shard 0/3 --soak-seed 42                   # machine 0 of 3
    pytest ... -n 2 --hypothesis-profile soak --soak-shard 1/3 --soak-seed 42                   # machine 1 of 3

Each shard writes its result (examples run, the schedules, lab prefixes, worker, times, failure) as JSON into
``--soak-results DIR`` when given, so a soak's results can be collected from every worker and machine.  The
options and the ``soak_shard`` parametrization come with the project's pytest plugin
(:mod:`netns_lab.pytest_plugin`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

    from netns_lab.schedules import Schedule

__all__ = ["DEFAULT_SHARDS", "Shard", "ShardResult", "SoakPlan", "parse_machine_shard", "run_shard"]

#: shards per machine unless ``--soak-shards`` says otherwise: two, so ``pytest -n 2`` runs them at once
DEFAULT_SHARDS = 2
_SHARD_RE = re.compile(r"^(\d+)/(\d+)$")


def parse_machine_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N) with 0 <= I < N; ValueError saying what is expected."""
    m = _SHARD_RE.match(text.strip())
    if not m or not int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"--soak-shard {text!r}: expected I/N with 0 <= I < N (machine I of N), e.g. 0/2")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Shard:
    """Shard ``local`` (of ``shards`` on this machine) of machine ``machine`` (of ``machines``)."""

    machine: int
    machines: int
    local: int
    shards: int
    base_seed: int
    examples: int  # this shard's share of the soak's examples (0: nothing left for it)
    database: Path  # its Hypothesis database directory
    results: Path | None = None  # where it writes its result (None: nowhere)

    @property
    def index(self) -> int:
        """Its number among all shards of the soak, on every machine."""
        return self.machine * self.shards + self.local

    @property
    def id(self) -> str:
        return f"m{self.machine}of{self.machines}-s{self.local}of{self.shards}"

    @property
    def seed(self) -> int:
        """Its Hypothesis seed: distinct for each shard of one soak (same base seed on every machine)."""
        return self.base_seed * 1_000_003 + self.index


@dataclass(frozen=True)
class SoakPlan:
    """How one soak is cut: ``examples`` in all (every machine), this machine's place, shards per machine."""

    examples: int
    machine: int = 0
    machines: int = 1
    shards: int = DEFAULT_SHARDS
    base_seed: int = 0
    database_root: Path = Path(".hypothesis") / "soak"
    results: Path | None = None

    def __post_init__(self) -> None:
        if self.examples < 0 or self.shards < 1 or not 0 <= self.machine < self.machines:
            raise ValueError(f"bad soak plan: {self}")

    def share(self, index: int) -> int:
        """The examples of shard ``index`` (of all machines' shards): an even split, the first ones one more."""
        total = self.machines * self.shards
        return self.examples // total + (1 if index < self.examples % total else 0)

    def local_shards(self) -> list[Shard]:
        """This machine's shards."""
        out = []
        for local in range(self.shards):
            index = self.machine * self.shards + local
            shard = Shard(self.machine, self.machines, local, self.shards, self.base_seed, self.share(index),
                          self.database_root, self.results)  # fmt: skip
            out.append(dataclasses.replace(shard, database=self.database_root / shard.id))
        return out


@dataclass
class ShardResult:
    """What one shard did; written as ``<results>/<shard id>.json``."""

    shard: str
    seed: int
    worker: str
    examples: int = 0
    schedules: list[str] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)
    start: float = 0.0
    end: float = 0.0
    failure: str | None = None


def run_shard(shard: Shard, strategy: SearchStrategy[Schedule],
              check: Callable[[Schedule, list[str]], None]) -> ShardResult:  # fmt: skip
    """Run ``shard``'s examples of ``strategy`` through ``check(schedule, prefixes)`` (which raises on a failed
    schedule and appends the lab prefixes it used), with the shard's seed and database; write the result into
    ``shard.results`` when set, and re-raise a failure after writing it."""
    from hypothesis import HealthCheck, Phase, given, seed, settings
    from hypothesis.database import DirectoryBasedExampleDatabase

    result = ShardResult(shard.id, shard.seed, os.environ.get("PYTEST_XDIST_WORKER", "main"), start=time.time())
    shard.database.mkdir(parents=True, exist_ok=True)

    @settings(max_examples=shard.examples, deadline=None, database=DirectoryBasedExampleDatabase(shard.database),
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.reuse, Phase.generate),
              derandomize=False)  # fmt: skip
    @seed(shard.seed)
    @given(strategy)
    def soak(s: Schedule) -> None:
        result.examples += 1
        result.schedules.append(s.describe())
        check(s, result.prefixes)

    try:
        soak()
    except BaseException as exc:
        result.failure = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        result.end = time.time()
        if shard.results is not None:
            shard.results.mkdir(parents=True, exist_ok=True)
            (shard.results / f"{shard.id}.json").write_text(json.dumps(asdict(result), indent=1))
    return result
