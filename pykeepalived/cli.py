"""``pykeepalived`` command line: keepalived 2.2.7's flags, with keepalived's meanings and exit statuses.

Every flag of ``keepalived --help`` is listed in ours.  Each is either honoured or refused with a message naming it
and why (exit 1, keepalived's status for bad usage); none is silently ignored.  Refused: ``-X`` (drop VIPs on
transition from signal), ``-V`` (keep VIPs at stop), ``-a`` (address monitoring log), ``-x``/``-A`` (SNMP),
``-M`` (writes the host's kernel.core_pattern) and ``-e`` (includet semantics).

keepalived's parsing quirks kept on purpose, since scripts depend on them: ``-t`` takes its log file only attached
(``-tFILE``, ``--config-test=FILE``; ``-t FILE`` is "Unexpected argument(s): FILE" and the test goes on), a
missing ``-f`` file under ``-t`` is "Config files missing" with status 0, ``--signum=NAME`` prints the number,
``-T``/``--genhash`` as the first option runs genhash with the rest.  ``-d`` runs the daemon and logs the
resolved configuration; with ``-t`` it prints it as JSON (ours).  ``--dump-dir DIR`` (ours) says where the
daemon's SIGUSR1/SIGUSR2/JSON dumps go; ``--metrics-listen=HOST:PORT`` (ours) turns on the Prometheus endpoint
(``$PYKEEPALIVED_METRICS_LISTEN`` is the alternative; the flag wins).  keepalived 2.2.7 has neither, and both
are long options only, so no keepalived flag or abbreviation can mean them.

This module is the one command-line parser: ``pykeepalived``, ``python -m pykeepalived`` and the
``python -m pykeepalived.daemon`` alias all come here; the daemon never imports it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from pykeepalived.sigsafe import protect_entry

if TYPE_CHECKING:
    from .daemon.options import DaemonOptions

DEFAULT_CONFIG = "/etc/keepalived/keepalived.conf"
METRICS_ENV = "PYKEEPALIVED_METRICS_LISTEN"
VERSION = "0.1.0"


@dataclass(frozen=True)
class Flag:
    """One of keepalived's daemon flags: its names, whether it takes a value, its help, and why we refuse it."""

    short: str | None
    long: str
    metavar: str | None
    help: str
    refused: str | None = None

    @property
    def dest(self) -> str:
        return self.long.lstrip("-").replace("-", "_")

    @property
    def names(self) -> str:
        return "/".join(n for n in (self.short, self.long) if n)


#: keepalived 2.2.7's daemon flags, in its ``--help`` order (``-f``, ``-t``, ``-d``, ``-i``, ``-v``, ``-h``,
#: ``-T`` and ``--signum`` are handled on their own).
FLAGS: tuple[Flag, ...] = (
    Flag("-P", "--vrrp", None, "only run the VRRP subsystem"),
    Flag("-C", "--check", None, "only run the health-checker subsystem"),
    Flag("-B", "--no_bfd", None, "don't run the BFD subsystem (there is none: always so)"),
    Flag(None, "--all", None, "force all child processes to run, even if they have no configuration"),
    Flag("-l", "--log-console", None, "log messages to the local console (and to syslog unless -G)"),
    Flag("-D", "--log-detail", None, "detailed log messages"),
    Flag("-S", "--log-facility", "FACILITY", "syslog facility 0-7 (local0-7), local0-7, user or daemon (default)"),
    Flag("-g", "--log-file", "FILE", "also log to FILE (children to FILE_vrrp / FILE_healthcheckers)"),
    Flag(None, "--flush-log-file", None, "flush the log file after each line (always so)"),
    Flag("-G", "--no-syslog", None, "don't log via syslog"),
    Flag("-u", "--umask", "MASK", "umask for file creation (in numeric form)"),
    Flag("-X", "--release-vips", None, "drop VIP on transition from signal",
         "dropping the VIPs on a signal-driven transition is not implemented"),
    Flag("-V", "--dont-release-vrrp", None, "don't remove VRRP VIPs and VROUTEs on daemon stop",
         "the VRRP process always removes its VIPs at stop"),
    Flag("-I", "--dont-release-ipvs", None, "don't remove the IPVS topology on daemon stop"),
    Flag("-R", "--dont-respawn", None, "don't respawn child processes (the daemon stops when one dies)"),
    Flag("-n", "--dont-fork", None, "don't fork the daemon process"),
    Flag("-p", "--pid", "FILE", "pid file of the parent process (default /run/keepalived.pid)"),
    Flag("-r", "--vrrp_pid", "FILE", "pid file of the VRRP child process (default /run/vrrp.pid)"),
    Flag("-c", "--checkers_pid", "FILE", "pid file of the checkers child process (default /run/checkers.pid)"),
    Flag("-a", "--address-monitoring", None, "report all address additions/deletions notified via netlink",
         "address monitoring is not implemented"),
    Flag("-b", "--bfd_pid", "FILE", "pid file of the BFD child process (there is none: never written)"),
    Flag("-x", "--snmp", None, "enable the SNMP subsystem", "there is no SNMP subsystem"),
    Flag("-A", "--snmp-agent-socket", "FILE", "socket of the SNMP master agent", "there is no SNMP subsystem"),
    Flag("-s", "--namespace", "NAME", "run in network namespace NAME (/run/netns/NAME)"),
    Flag("-m", "--core-dump", None, "produce a core dump if terminating abnormally"),
    Flag("-M", "--core-dump-pattern", "PATN", "also set /proc/sys/kernel/core_pattern to PATN",
         "changing the host's kernel.core_pattern is left to the administrator"),
    Flag("-e", "--all-config", None, "error if any configuration file is missing",
         "includet semantics (a missing include is an error) are not implemented"),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pykeepalived", description="keepalived rebuilt in Python (keepalived 2.2.7's flags)")
    p.add_argument("-f", "--use-file", dest="file", default=DEFAULT_CONFIG, metavar="FILE",
                   help=f"configuration file (default {DEFAULT_CONFIG})")
    p.add_argument("-t", "--config-test", dest="config_test", nargs="?", const="-", default=None, metavar="LOG_FILE",
                   help="check the configuration and exit with keepalived's status (0 ok, 4 cannot run, "
                        "5 errors but would run, 6 scripts without script security); the log file only attached: "
                        "-tFILE or --config-test=FILE")
    p.add_argument("-d", "--dump-conf", dest="dump", action="store_true",
                   help="log the resolved configuration at start (with -t: print it as JSON)")
    p.add_argument("-i", "--config-id", dest="config_id", default=None, metavar="ID",
                   help="config id for @ID conditionals (default: first label of the host name)")
    p.add_argument("--signum", dest="signum", default=None, metavar="SIGFUNC",
                   help="print the signal number for STOP, RELOAD, DATA, STATS, STATS_CLEAR, JSON")
    p.add_argument("-T", "--genhash", dest="genhash", action="store_true",
                   help="enter genhash utility mode (must be the first option)")
    p.add_argument("--dump-dir", dest="dump_dir", default=None, metavar="DIR",
                   help="where SIGUSR1/SIGUSR2/JSON dumps go (default $PYKEEPALIVED_TMP_DIR or /tmp) [ours]")
    p.add_argument("--metrics-listen", dest="metrics_listen", default=None, metavar="HOST:PORT",
                   help="serve Prometheus metrics on HOST:PORT ([V6]:PORT; host 127.0.0.1, port 9650 when left "
                        f"out); default ${METRICS_ENV}, else off [ours]")
    p.add_argument("-v", "--version", action="version", version=f"pykeepalived {VERSION} "
                   "(keepalived 2.2.7 configuration compatible)")
    for flag in FLAGS:
        names = [n for n in (flag.short, flag.long) if n]
        text = flag.help + (f" [refused: {flag.refused}]" if flag.refused else "")
        if flag.metavar:
            p.add_argument(*names, dest=flag.dest, default=None, metavar=flag.metavar, help=text)
        else:
            p.add_argument(*names, dest=flag.dest, action="store_true", help=text)
    p.add_argument("extra", nargs="*", help=argparse.SUPPRESS)
    return p


def console_main() -> None:  # pragma: no cover - exercised through the console script
    """Console-script entry: like ``sys.exit(main())``, but a config test skips interpreter teardown.

    Freeing a 37k-real-server model object by object costs a third of the run; keepalived just exits.
    So the model is also kept alive past the config test (``keep``) - releasing it when _config_test
    returned would free it object by object (~60 ms at 37k real servers) just before os._exit.
    """
    protect_entry()
    keep: list[object] = []
    try:
        status = _main(None, keep)
    except KeyboardInterrupt:  # SIGTERM/SIGINT before the daemon took them over: a clean stop
        status = 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    return _main(argv, None)


def _getopt_style(argv: list[str]) -> list[str]:
    """keepalived's getopt: ``-t``'s optional argument only attached (``-tFILE``); a bare ``-t`` takes none."""
    out = []
    for a in argv:
        if a == "-t":
            out.append("--config-test=-")
        elif a.startswith("-t") and not a.startswith("--"):
            out.append(f"--config-test={a[2:]}")
        else:
            out.append(a)
    return out


def _c_number(text: str) -> int | None:
    """strtoul(text, 0): 0x hex, leading 0 octal, else decimal; None when not a number."""
    try:
        if text.lower().startswith("0x"):
            return int(text[2:], 16)
        return int(text, 8) if text.startswith("0") else int(text, 10)
    except ValueError:
        return None


def _main(argv: Sequence[str] | None, keep: list[object] | None) -> int:
    """:func:`main`; a config test appends its result to ``keep`` when given (see console_main)."""
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in and args_in[0] in ("-T", "--genhash"):
        from checkers.io.genhash import main as genhash

        return genhash(args_in[1:], prog="pykeepalived --genhash")
    parser = build_parser()
    try:
        args = parser.parse_args(_getopt_style(args_in))
    except SystemExit as e:  # --help / --version / usage errors: argparse already printed
        return int(e.code) if isinstance(e.code, int) else 1
    if args.genhash:
        print("pykeepalived: -T/--genhash must be the first option", file=sys.stderr)
        return 1
    if args.signum is not None:
        from pykeepalived.daemon.signals import UnknownSigFunc, signum

        try:
            print(signum(args.signum))
        except UnknownSigFunc as exc:
            print(exc, file=sys.stderr)
            return 1
        return 0
    if args.extra:
        print(f"Unexpected argument(s): {' '.join(args.extra)}", file=sys.stderr)
    refused = [f for f in FLAGS if f.refused and getattr(args, f.dest) not in (None, False)]
    for f in refused:
        print(f"pykeepalived: option {f.names} is not supported: {f.refused}", file=sys.stderr)
    if refused:
        return 1
    problems = 0
    facility = "daemon"
    if args.log_facility is not None:
        from pykeepalived.daemon.logs import facility_name

        name = facility_name(args.log_facility)
        if name is None:
            print(f"Invalid log facility '{args.log_facility}'", file=sys.stderr)
            problems += 1
        else:
            facility = name
    umask = None
    if args.umask is not None:
        umask = _c_number(args.umask)
        if umask is None or umask > 0o777:
            print(f"Invalid --umask option {args.umask}", file=sys.stderr)  # keepalived: reported, then ignored
            umask = None
    if args.metrics_listen is not None and _metrics_problem("--metrics-listen", args.metrics_listen):
        return 1
    if args.config_test is None:
        if args.metrics_listen is None and os.environ.get(METRICS_ENV):
            args.metrics_listen = os.environ[METRICS_ENV]
            if _metrics_problem(METRICS_ENV, args.metrics_listen):
                return 1
        return _run_daemon(args, facility, umask)
    status = _config_test(args, keep)
    return max(status, 5) if problems else status


def _metrics_problem(source: str, value: str) -> bool:
    """Print why ``value`` (from ``source``, the flag or the environment variable) is no listen address."""
    from pykeepalived.daemon.metrics import MetricsListenError, parse_listen

    try:
        if not value:  # parse_listen's defaults would make it 127.0.0.1:9650, the daemon's "" means off
            raise MetricsListenError(f"metrics address {value!r}: expected HOST:PORT")
        parse_listen(value)
    except MetricsListenError as exc:
        print(f"pykeepalived: {source}: {exc}", file=sys.stderr)
        return True
    return False


def daemon_options(args: argparse.Namespace, facility: str = "daemon", umask: int | None = None) -> DaemonOptions:
    """The options the daemon honours, typed and frozen, from the parsed command line."""
    from .daemon.options import DaemonOptions

    return DaemonOptions(
        config_file=args.file, config_id=args.config_id, vrrp=args.vrrp, check=args.check,
        all_children=args.all, dont_fork=args.dont_fork, log_console=args.log_console,
        log_detail=args.log_detail, log_file=args.log_file, log_facility=facility, no_syslog=args.no_syslog,
        pid_file=args.pid, vrrp_pid_file=args.vrrp_pid, checkers_pid_file=args.checkers_pid,
        dump_dir=args.dump_dir, dont_respawn=args.dont_respawn, dont_release_ipvs=args.dont_release_ipvs,
        namespace=args.namespace, umask=umask, core_dump=args.core_dump, dump_conf=args.dump,
        metrics_listen=args.metrics_listen,
    )


def _run_daemon(args: argparse.Namespace, facility: str, umask: int | None) -> int:
    from . import daemon

    return daemon.run_daemon(daemon_options(args, facility, umask))


def _config_test(args: argparse.Namespace, keep: list[object] | None = None) -> int:
    # Imported here, not at module level: `-t` pays only for what it uses (dump pulls in json).
    from .config import load_config
    from .config.errors import Severity

    if not os.path.exists(args.file):
        print(f"Config files missing '{args.file}'.", file=sys.stderr)  # keepalived 2.2.7: status 0
        return 0
    result = load_config(args.file, config_id=args.config_id)
    if keep is not None:
        keep.append(result)
    lines = [str(d) for d in result.diagnostics if d.severity > Severity.NOTICE or args.dump]
    if args.config_test not in (None, "-", ""):
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
