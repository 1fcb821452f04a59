"""What the daemon is asked to do from the command line: the options ``pykeepalived.cli`` parsed, typed and frozen.

The daemon takes this, not an ``argparse.Namespace``, so it never depends on the command line's parser (the CLI
imports the daemon, never the other way round) and a misspelt option is a type error, not a silent ``None``.
Only the options the daemon acts on are here; the CLI accepts keepalived's other daemon flags so unit files and
scripts written for keepalived parse.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_PID", "DEFAULT_VRRP_PID", "DaemonOptions"]

DEFAULT_PID = "/run/keepalived.pid"
DEFAULT_VRRP_PID = "/run/keepalived_vrrp.pid"


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """keepalived's daemon flags the VRRP process honours (flag in brackets).

    Attributes:
        config_file: the configuration [``-f``].
        config_id: the id ``@ID`` conditional lines match [``-i``]; None: the host name's first label.
        vrrp: run the VRRP process [``-P``]; ``check`` alone [``-C``] is refused (no checker process yet).
        dont_fork: stay in the foreground [``-n``].
        log_console / log_detail / log_file: log to the console [``-l``], in detail [``-D``], to a file [``-g``].
        pid_file / vrrp_pid_file: where the pid goes [``-p`` / ``-r``]; None: keepalived's defaults.
        dump_dir: where SIGUSR1/SIGUSR2/SIGRTMIN+2 dumps go [``--dump-dir``, ours]; None:
            ``$PYKEEPALIVED_TMP_DIR`` or ``/tmp``, as keepalived's go to ``/tmp``.
    """

    config_file: str
    config_id: str | None = None
    vrrp: bool = False
    check: bool = False
    dont_fork: bool = False
    log_console: bool = False
    log_detail: bool = False
    log_file: str | None = None
    pid_file: str | None = None
    vrrp_pid_file: str | None = None
    dump_dir: str | None = None
