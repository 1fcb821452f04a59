"""What the daemon is asked to do from the command line: the options ``pykeepalived.cli`` parsed, typed and frozen.

The daemon takes this, not an ``argparse.Namespace``, so it never depends on the command line's parser (the CLI
imports the daemon, never the other way round) and a misspelt option is a type error, not a silent ``None``.
Only the options the daemon acts on are here; the CLI refuses keepalived's flags we cannot honour.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CHECKERS_PID", "DEFAULT_PID", "DEFAULT_VRRP_PID", "DaemonOptions"]

# keepalived 2.2.7 (Debian, --runstatedir=/run): the parent's, the VRRP child's and the checker child's pid files
DEFAULT_PID = "/run/keepalived.pid"
DEFAULT_VRRP_PID = "/run/vrrp.pid"
DEFAULT_CHECKERS_PID = "/run/checkers.pid"


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """keepalived's daemon flags the daemon honours (flag in brackets).

    Attributes:
        config_file: the configuration [``-f``].
        config_id: the id ``@ID`` conditional lines match [``-i``]; None: the host name's first label.
        vrrp / check: run only the VRRP child [``-P``] / only the checker child [``-C``]; neither: each child whose
            part of the configuration exists, or both with ``all_children`` [``--all``].
        dont_fork: stay in the foreground [``-n``].
        log_console / log_detail / log_file: log to the console [``-l``], in detail [``-D``], to a file [``-g``].
        log_facility: the syslog facility [``-S``], a name the ``logging`` module knows ("daemon", "local0", ...).
        no_syslog: do not log to syslog [``-G``].
        pid_file / vrrp_pid_file / checkers_pid_file: where the pids go [``-p`` / ``-r`` / ``-c``]; None:
            keepalived's defaults.
        dump_dir: where SIGUSR1/SIGUSR2/SIGRTMIN+2 dumps go [``--dump-dir``, ours]; None:
            ``$PYKEEPALIVED_TMP_DIR`` or ``/tmp``, as keepalived's go to ``/tmp``.
        dont_respawn: a child that dies is not restarted; the daemon stops [``-R``].
        dont_release_ipvs: leave the IPVS table as it is at stop [``-I``].
        namespace: the network namespace (``/run/netns/NAME``) everything runs in [``-s``].
        umask: the file-creation mask [``-u``]; None: inherited.
        core_dump: raise the core-size limit so a crash leaves a core [``-m``].
        dump_conf: log the resolved configuration at start [``-d``].
        metrics_listen: ``HOST:PORT`` the VRRP child serves Prometheus metrics on [``--metrics-listen``, ours,
            or ``$PYKEEPALIVED_METRICS_LISTEN``; the CLI checked it]; None: no endpoint.
    """

    config_file: str
    config_id: str | None = None
    vrrp: bool = False
    check: bool = False
    all_children: bool = False
    dont_fork: bool = False
    log_console: bool = False
    log_detail: bool = False
    log_file: str | None = None
    log_facility: str = "daemon"
    no_syslog: bool = False
    pid_file: str | None = None
    vrrp_pid_file: str | None = None
    checkers_pid_file: str | None = None
    dump_dir: str | None = None
    dont_respawn: bool = False
    dont_release_ipvs: bool = False
    namespace: str | None = None
    umask: int | None = None
    core_dump: bool = False
    dump_conf: bool = False
    metrics_listen: str | None = None
