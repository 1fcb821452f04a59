"""The executors a scenario runs on, behind one seam: a :class:`~netns_lab.lab.Lab`.

An executor provides what the runner needs of a network: build the scenario's topology (hosts as named network
namespaces, switches as bridges), run a command or start a process in a host or at a switch (daemons, servers,
clients, ``nft`` and ``ip link`` for the nemesis), and tear everything of its own down.  The runner, the
daemons' command lines, the observers (capture on the bridge, VIP holders), the nemesis, the history, the
checkers, the report and the timeline are shared and do not know which executor ran.

* ``netns``: :class:`netns_lab.lab.Lab`, namespaces built by the lab itself (a bridge in a namespace of its own);
* ``mininet``: :class:`netns_lab.mn_adapter.MininetLab`, Debian's Mininet (LinuxBridge, no controller).

An executor that cannot honour a fault kind lists it in ``Lab.refused_faults`` with the reason; the runner
refuses such a scenario before building anything (never ignores the fault).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI reads EXECUTORS without importing the lab (pyroute2)
    from netns_lab.lab import Lab

__all__ = ["EXECUTORS", "lab_class", "refusals"]

EXECUTORS = ("netns", "mininet")


def lab_class(executor: str) -> type[Lab]:
    """The Lab class of ``executor`` (ValueError naming the choices for another name)."""
    if executor == "netns":
        from netns_lab.lab import Lab

        return Lab
    if executor == "mininet":
        from netns_lab.mn_adapter import MininetLab

        return MininetLab
    raise ValueError(f"--executor {executor}: must be one of {', '.join(EXECUTORS)}")


def refusals(lab: type[Lab], kinds: list[tuple[str, str]]) -> list[str]:
    """For each (where, fault kind) the executor ``lab`` cannot honour, a message naming where and why."""
    refused = lab.refused_faults
    return [f"{where}: fault {kind!r} cannot run on the {lab.executor} executor: {refused[kind]}"
            for where, kind in kinds if kind in refused]  # fmt: skip
