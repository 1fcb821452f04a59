"""``pykeepalived`` command line, keepalived-compatible flags.

``-f/--use-file``, ``-t/--config-test[=LOG]``, ``-d/--dump-conf`` (JSON of the resolved model),
``-i/--config-id``, ``-h``, ``-v``; without ``-t``/``-d`` it runs the daemon (:func:`_run_daemon`, today the
VRRP process), handing it the typed, frozen :class:`~pykeepalived.daemon.options.DaemonOptions` it honours.
Every keepalived daemon flag is accepted so keepalived unit files and scripts parse; with ``-t``/``-d`` the ones
that would change what runs answer "not implemented yet" (exit 1).  ``--dump-dir DIR`` (ours) says where the
daemon's SIGUSR1/SIGUSR2/SIGRTMIN+2 dumps go.

This module is the one command-line parser: ``pykeepalived``, ``python -m pykeepalived`` and the
``python -m pykeepalived.daemon`` alias all come here; the daemon never imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from .daemon.options import DaemonOptions

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
VERSION = "0.1.0"

# keepalived daemon flags: (short, long, takes_value)
_DAEMON_FLAGS: tuple[tuple[str | None, str, bool], ...] = (
    ("-P", "--vrrp", False), ("-C", "--check", False), ("-B", "--no_bfd", False), (None, "--all", False),
    ("-l", "--log-console", False), ("-D", "--log-detail", False), ("-S", "--log-facility", True),
    ("-g", "--log-file", True), (None, "--flush-log-file", False), ("-G", "--no-syslog", False),
    ("-X", "--release-vips", False), ("-V", "--dont-release-vrrp", False), ("-I", "--dont-release-ipvs", False),
    ("-R", "--dont-respawn", False), ("-n", "--dont-fork", False), ("-p", "--pid", True),
    ("-r", "--vrrp_pid", True), ("-c", "--checkers_pid", True), ("-b", "--bfd_pid", True),
    ("-s", "--namespace", True), ("-e", "--all-config", False), ("-x", "--snmp", False),
    ("-A", "--snmp-agent-socket", True), ("-u", "--umask", True), ("-m", "--core-dump", False),
    ("-M", "--core-dump-pattern", True), ("-a", "--address-monitoring", False),
)
# Flags that only change logging/where output goes: harmless to accept with -t / -d.
_HARMLESS = {"log_console", "log_detail", "dont_fork", "log_facility", "no_syslog", "all_config"}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pykeepalived", description="keepalived rebuilt in Python")
    p.add_argument("-f", "--use-file", dest="file", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"configuration file (default {DEFAULT_CONFIG})")
    p.add_argument("-t", "--config-test", dest="config_test", nargs="?", const="-", default=None, metavar="LOG",
                   help="check the configuration and exit with keepalived's status (0 ok, 4 cannot run, "
                        "5 errors but would run, 6 scripts without script security)")
    p.add_argument("-d", "--dump-conf", dest="dump", action="store_true", help="print the resolved config as JSON")
    p.add_argument("-i", "--config-id", dest="config_id", default=None, metavar="ID",
                   help="config id for @ID conditionals (default: first label of the host name)")
    p.add_argument("--dump-dir", dest="dump_dir", default=None, metavar="DIR",
                   help="where SIGUSR1/SIGUSR2/SIGRTMIN+2 dumps go (default $PYKEEPALIVED_TMP_DIR or /tmp)")
    p.add_argument("-v", "--version", action="version", version=f"pykeepalived {VERSION} "
                   "(keepalived 2.2.7 configuration compatible)")
    for short, long, takes in _DAEMON_FLAGS:
        names = [n for n in (short, long) if n]
        dest = long.lstrip("-").replace("-", "_")
        if takes:
            p.add_argument(*names, dest=dest, default=None, metavar="ARG", help=argparse.SUPPRESS)
        else:
            p.add_argument(*names, dest=dest, action="store_true", help=argparse.SUPPRESS)
    return p


def console_main() -> None:  # pragma: no cover - exercised through the console script
    """Console-script entry: like ``sys.exit(main())``, but a config test skips interpreter teardown.

    Freeing a 37k-real-server model object by object costs a third of the run; keepalived just exits.
    So the model is also kept alive past the config test (``keep``) - releasing it when _config_test
    returned would free it object by object (~60 ms at 37k real servers) just before os._exit.
    """
    keep: list[object] = []
    status = _main(None, keep)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    return _main(argv, None)


def _main(argv: Sequence[str] | None, keep: list[object] | None) -> int:
    """:func:`main`; a config test appends its result to ``keep`` when given (see console_main)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help / --version / usage errors: argparse already printed
        return int(e.code) if isinstance(e.code, int) else 1
    if args.config_test is None and not args.dump:
        return _run_daemon(args)
    return _config_test(args, keep)


def _unsupported(args: argparse.Namespace) -> list[str]:
    out = []
    for short, long, _ in _DAEMON_FLAGS:
        dest = long.lstrip("-").replace("-", "_")
        if dest in _HARMLESS:
            continue
        if getattr(args, dest) not in (None, False):
            out.append(short or long)
    return out


def daemon_options(args: argparse.Namespace) -> DaemonOptions:
    """The options the daemon honours, typed and frozen, from the parsed command line."""
    from .daemon.options import DaemonOptions

    return DaemonOptions(
        config_file=args.file, config_id=args.config_id, vrrp=args.vrrp, check=args.check,
        dont_fork=args.dont_fork, log_console=args.log_console, log_detail=args.log_detail,
        log_file=args.log_file, pid_file=args.pid, vrrp_pid_file=args.vrrp_pid, dump_dir=args.dump_dir,
    )


def _run_daemon(args: argparse.Namespace) -> int:
    from .daemon import run_vrrp

    return run_vrrp(daemon_options(args))


def _config_test(args: argparse.Namespace, keep: list[object] | None = None) -> int:
    # Imported here, not at module level: `-t` pays only for what it uses (dump pulls in json).
    from .config import load_config
    from .config.errors import Severity

    bad = _unsupported(args)
    if bad:
        print(f"pykeepalived: option(s) {', '.join(bad)} not implemented yet", file=sys.stderr)
        return 1
    result = load_config(args.file, config_id=args.config_id)
    if keep is not None:
        keep.append(result)
    lines = [str(d) for d in result.diagnostics if d.severity > Severity.NOTICE or args.dump]
    if args.config_test not in (None, "-"):
        try:
            with open(args.config_test, "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
        except OSError as e:
            print(f"pykeepalived: cannot write log file {args.config_test}: {e.strerror}", file=sys.stderr)
            return 1
    else:
        for line in lines:
            print(line, file=sys.stderr)
    if args.dump:
        from .config.dump import dump_json

        sys.stdout.write(dump_json(result.config) + "\n")
    return result.exit_status


if __name__ == "__main__":
    console_main()
