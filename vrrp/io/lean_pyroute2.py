"""pyroute2 without its package ``__init__``: the VRRP process uses ``AsyncIPRoute`` and netlink errors, but
``import pyroute2`` imports every subsystem the library has (NDB with sqlite3, IPDB, conntrack, nftables, devlink,
nl80211, 9p, ss2 with psutil ...): ~7 MiB and ~85 modules a process, held for the daemon's whole life.

:func:`install` (called by the daemon's VRRP child before anything imports pyroute2) registers the package as a
bare module whose ``__path__`` is the real one, so ``pyroute2.iproute.linux`` and friends import as usual and
nothing else does. Anyone asking the bare package for a name it lacks (``from pyroute2 import IPRoute``) gets the
real ``__init__`` run on the spot, so code that does not know about this still works, at the usual cost.
Our own modules import pyroute2's names from their defining submodules, which works with or without this.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from typing import Any

__all__ = ["install"]


def install() -> bool:
    """Make ``pyroute2`` a bare package in this process; False when it is already imported (or missing)."""
    if "pyroute2" in sys.modules:
        return False
    spec = importlib.util.find_spec("pyroute2")
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return False
    pkg = importlib.util.module_from_spec(spec)
    loader = spec.loader

    def __getattr__(name: str) -> Any:  # PEP 562: only for names the bare package lacks
        if name.startswith("__"):
            raise AttributeError(name)
        try:  # a submodule (``from pyroute2 import config`` asks the attribute first)
            return importlib.import_module(f"pyroute2.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pyroute2.{name}":
                raise
        delattr(pkg, "__getattr__")  # a name of the real __init__: run it once, then names resolve normally
        loader.exec_module(pkg)
        return getattr(pkg, name)

    setattr(pkg, "__getattr__", __getattr__)  # noqa: B010 - a module attribute, not a method
    sys.modules["pyroute2"] = pkg
    return True
