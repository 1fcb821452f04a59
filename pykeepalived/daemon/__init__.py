"""The pykeepalived daemon, keepalived's process model: a watchdog parent, a VRRP child and a checker child.

Entry point: :func:`run_daemon` takes the typed, frozen :class:`~.options.DaemonOptions` that ``pykeepalived.cli``
(the one command-line parser) built from keepalived's flags, runs the parent (:mod:`.watchdog`) and returns the
exit status.  The parent reads and checks the configuration first (a configuration that cannot run exits 4 with
file:line before anything starts), then starts a child for each part the configuration has (``vrrp_instance``:
the VRRP child, ``virtual_server``: the checker child; ``-P``/``-C`` choose one, ``--all`` both); the children
(:mod:`.child`) are fresh interpreters that read the configuration again, as keepalived's children do after a
reload.  Once the configuration is checked and the pid files written, the parent starts the children and
re-executes itself as the lean watchdog (same pid, :func:`.watchdog.become_watchdog`): what checking took (the
parser, the settings, pyroute2) is given back instead of being held for the daemon's whole life.  This package
never imports the CLI.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing's own flag, without importing typing into the lean watchdog
if TYPE_CHECKING:
    from typing import Any

    from pykeepalived.daemon.logs import setup_logging
    from pykeepalived.daemon.options import DaemonOptions
    from pykeepalived.daemon.run import Checked, apply_process_options, dump_dir, load_checked, run_daemon

__all__ = ["Checked", "DaemonOptions", "apply_process_options", "dump_dir", "load_checked", "run_daemon",
           "setup_logging"]


def __getattr__(name: str) -> Any:
    """The package's names, imported on first use (PEP 562): the lean watchdog imports modules of this package
    (pid files, systemd notification) and must not import logging, dataclasses and the parser's needs with it."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from pykeepalived.daemon import run

    value = getattr(run, name)
    globals()[name] = value
    return value
