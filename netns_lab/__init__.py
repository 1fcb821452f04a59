"""netns_lab: run the daemon unchanged in Linux network namespaces and script failures against it."""

from pathlib import Path

__all__ = ["mininet_topo_path"]


def mininet_topo_path() -> Path:
    """The ``mn --custom`` topology file (it runs under the system Python, so it is a path, not an import)."""
    return Path(__file__).resolve().parent / "mininet_topo.py"
