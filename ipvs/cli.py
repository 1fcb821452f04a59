"""``pyipvsadm``: the ipvsadm commands users know, on our backends, with ipvsadm's output formats.

Supported: -A -E -D -a -e -d -C -Z -L/-l (with -n --stats --rate --exact --thresholds --persistent-conn
--timeout -c --daemon) -S -R --set, --start-daemon/--stop-daemon (with --mcast-interface --syncid --sync-maxlen
--mcast-group --mcast-port --mcast-ttl), and the service/destination options -t -u --sctp-service -f -6 -s -b
-p -M --pe -o -r -g -m -i -w -x -y --tun-type --tun-port --tun-nocsum --tun-csum --tun-remcsum. ``--netns NAME``
programs another network namespace's table (our addition). Names are never resolved: output is always numeric.

Differences from ipvsadm: ``-e``/``-E`` keep the current value of options not given (ipvsadm resets them to
defaults); ``-R`` parses every line before applying any, so a bad line changes nothing, and then applies the
rules in one pipelined batch, reporting every kernel error rather than stopping at the first.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn, TextIO

from ipvs.backend import Backend
from ipvs.errors import IPVSError
from ipvs.formats import format_connections, format_daemons, format_list, format_save
from ipvs.model import (
    AF_INET,
    AF_INET6,
    DEFAULT_PERSISTENCE_TIMEOUT,
    F_ONEPACKET,
    F_PERSISTENT,
    F_SCHED_ALL,
    SYNC_STATES,
    TUN_F_CSUM,
    TUN_F_NOCSUM,
    TUN_F_REMCSUM,
    Destination,
    DestKey,
    Forward,
    Protocol,
    Service,
    ServiceKey,
    ServiceState,
    SyncDaemon,
    Timeouts,
    TunType,
    default_netmask,
    sched_flag_bits,
)
from ipvs.ops import Op

EXIT_KERNEL = 255  # what ipvsadm exits with when the kernel refuses an operation
EXIT_USAGE = 2


class UsageError(Exception):
    """A bad command line (or -R line); the message says what is wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="pyipvsadm", add_help=True, allow_abbrev=False,
                description="ipvsadm-compatible IPVS administration (pykeepalived)")
    cmd = p.add_mutually_exclusive_group()
    for short, long, dest in (
        ("-A", "--add-service", "add_service"), ("-E", "--edit-service", "edit_service"),
        ("-D", "--delete-service", "delete_service"), ("-C", "--clear", "clear"),
        ("-R", "--restore", "restore"), ("-S", "--save", "save"),
        ("-a", "--add-server", "add_server"), ("-e", "--edit-server", "edit_server"),
        ("-d", "--delete-server", "delete_server"), ("-L", "--list", "list"),
        ("-Z", "--zero", "zero"),
    ):
        cmd.add_argument(short, long, dest=dest, action="store_true")
    cmd.add_argument("-l", dest="list", action="store_true")
    cmd.add_argument("--set", nargs=3, metavar=("TCP", "TCPFIN", "UDP"), type=int)
    cmd.add_argument("--start-daemon", choices=tuple(SYNC_STATES), metavar="STATE")
    cmd.add_argument("--stop-daemon", choices=tuple(SYNC_STATES), metavar="STATE")
    p.add_argument("--syncid", type=_u8, metavar="SID")
    p.add_argument("--mcast-interface", metavar="IFNAME")
    p.add_argument("--sync-maxlen", type=_u16, metavar="LEN")
    p.add_argument("--mcast-group", metavar="ADDRESS")
    p.add_argument("--mcast-port", type=_u16, metavar="PORT")
    p.add_argument("--mcast-ttl", type=_u8, metavar="TTL")
    p.add_argument("--daemon", action="store_true", help="with -L: list the sync daemons")
    p.add_argument("-t", "--tcp-service", metavar="VIP:PORT")
    p.add_argument("-u", "--udp-service", metavar="VIP:PORT")
    p.add_argument("--sctp-service", metavar="VIP:PORT")
    p.add_argument("-f", "--fwmark-service", metavar="FWMARK")
    p.add_argument("-6", "--ipv6", action="store_true")
    p.add_argument("-s", "--scheduler")
    p.add_argument("-b", "--sched-flags")
    p.add_argument("-p", "--persistent", nargs="?", const=str(DEFAULT_PERSISTENCE_TIMEOUT), metavar="TIMEOUT")
    p.add_argument("-M", "--netmask")
    p.add_argument("--pe")
    p.add_argument("-o", "--ops", action="store_true")
    p.add_argument("-r", "--real-server", metavar="RIP[:PORT]")
    fwd = p.add_mutually_exclusive_group()
    fwd.add_argument("-g", "--gatewaying", dest="fwd", action="store_const", const=Forward.DR)
    fwd.add_argument("-m", "--masquerading", dest="fwd", action="store_const", const=Forward.NAT)
    fwd.add_argument("-i", "--ipip", dest="fwd", action="store_const", const=Forward.TUNNEL)
    p.add_argument("-w", "--weight", type=int)
    p.add_argument("-x", "--u-threshold", type=int)
    p.add_argument("-y", "--l-threshold", type=int)
    p.add_argument("--tun-type", choices=("ipip", "gue", "gre"))
    p.add_argument("--tun-port", type=int)
    csum = p.add_mutually_exclusive_group()
    csum.add_argument("--tun-nocsum", dest="tun_flags", action="store_const", const=TUN_F_NOCSUM)
    csum.add_argument("--tun-csum", dest="tun_flags", action="store_const", const=TUN_F_CSUM)
    csum.add_argument("--tun-remcsum", dest="tun_flags", action="store_const", const=TUN_F_REMCSUM)
    p.add_argument("-n", "--numeric", action="store_true")
    p.add_argument("--stats", action="store_true")
    p.add_argument("--rate", action="store_true")
    p.add_argument("--exact", action="store_true")
    p.add_argument("--thresholds", action="store_true")
    p.add_argument("--persistent-conn", action="store_true")
    p.add_argument("--nosort", action="store_true")
    p.add_argument("--sort", action="store_true")
    p.add_argument("--timeout", action="store_true", help="with -L: list the connection timeouts")
    p.add_argument("-c", "--connection", action="store_true")
    p.add_argument("--netns", help="operate on this network namespace's IPVS table (pyipvsadm only)")
    return p


# -- option values -------------------------------------------------------------------------------------------


def _bounded(top: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not 0 <= value <= top:
            raise ValueError(text)
        return value

    parse.__name__ = f"integer 0..{top}"
    return parse


_u8, _u16 = _bounded(255), _bounded(65535)


def build_daemon(ns: argparse.Namespace) -> SyncDaemon:
    """--start-daemon's options, checked as ipvsadm checks them (an interface is required; a group must be a
    multicast address)."""
    if not ns.mcast_interface:
        raise UsageError("--start-daemon needs --mcast-interface")
    if len(ns.mcast_interface) >= 16:
        raise UsageError(f"--mcast-interface {ns.mcast_interface!r} is longer than 15 characters")
    group = None
    if ns.mcast_group is not None:
        try:
            addr = ipaddress.ip_address(ns.mcast_group)
        except ValueError:
            raise UsageError(f"--mcast-group {ns.mcast_group!r} is not an address") from None
        if not addr.is_multicast:
            raise UsageError(f"--mcast-group {ns.mcast_group} is not a multicast address")
        group = str(addr)
    return SyncDaemon(SYNC_STATES[ns.start_daemon], ns.mcast_interface, ns.syncid or 0, ns.sync_maxlen or 0, group,
                      ns.mcast_port or 0, ns.mcast_ttl or 0)


def parse_hostport(text: str, what: str) -> tuple[int, str, int | None]:
    """"10.0.0.1:80", "10.0.0.1", "[fd00::1]:80", "[fd00::1]" or "fd00::1" -> (af, addr, port or None)."""
    host, port_text = text, None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"illegal {what} address {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"illegal {what} address {text!r}")
            port_text = rest[1:]
    elif text.count(":") == 1:
        host, port_text = text.split(":")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"illegal {what} address {text!r}: {host!r} is not a numeric IP address") from None
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise UsageError(f"illegal {what} port in {text!r}")
        port = int(port_text)
    return (AF_INET6 if ip.version == 6 else AF_INET), str(ip), port


def _service_key(ns: argparse.Namespace) -> ServiceKey | None:
    given = [(Protocol.TCP, ns.tcp_service), (Protocol.UDP, ns.udp_service), (Protocol.SCTP, ns.sctp_service)]
    chosen = [(proto, v) for proto, v in given if v is not None]
    if ns.fwmark_service is not None:
        chosen.append((Protocol.TCP, None))
    if not chosen:
        return None
    if len(chosen) > 1:
        raise UsageError("give exactly one of -t, -u, --sctp-service, -f")
    if ns.fwmark_service is not None:
        try:
            mark = int(ns.fwmark_service, 0)
        except ValueError:
            raise UsageError(f"illegal fwmark {ns.fwmark_service!r}") from None
        if -0x80000000 <= mark < 0:  # ipvsadm -S prints fwmarks with %d
            mark &= 0xFFFFFFFF
        if not 0 < mark <= 0xFFFFFFFF:
            raise UsageError(f"illegal fwmark {ns.fwmark_service!r}: must be 1..4294967295")
        return ServiceKey.mark(mark, AF_INET6 if ns.ipv6 else AF_INET)
    proto, text = chosen[0]
    af, addr, port = parse_hostport(str(text), "service")
    return ServiceKey(af, int(proto), addr, port or 0)


def _netmask(af: int, text: str) -> int:
    if af == AF_INET6:
        if not text.isdigit() or not 1 <= int(text) <= 128:
            raise UsageError("illegal ipv6 netmask specified")
        return int(text)
    try:
        return int(ipaddress.IPv4Address(text))
    except ValueError:
        raise UsageError(f"illegal virtual server netmask {text!r}") from None


def build_service(ns: argparse.Namespace, key: ServiceKey, base: Service | None) -> Service:
    """The service -A/-E describe; options not given come from ``base`` (edit) or the defaults (add)."""
    svc = base or Service(key)
    sched = ns.scheduler or (base.scheduler if base else "wlc")
    flags = svc.flags
    timeout = svc.timeout
    netmask = svc.netmask if base else default_netmask(key.af)
    if ns.persistent is not None:
        if not ns.persistent.isdigit() or int(ns.persistent) < 1:
            raise UsageError(f"invalid timeout value `{ns.persistent}' specified")
        flags |= F_PERSISTENT
        timeout = int(ns.persistent)
    if ns.netmask is not None:
        netmask = _netmask(key.af, ns.netmask)
    if ns.ops:
        if key.protocol != Protocol.UDP or key.fwmark:
            raise UsageError("One-Packet Scheduling is only for UDP virtual services")
        flags |= F_ONEPACKET
    if ns.sched_flags is not None:
        try:
            bits = sched_flag_bits(sched, [f for f in ns.sched_flags.split(",") if f])
        except ValueError as e:
            raise UsageError(str(e)) from None
        flags = (flags & ~F_SCHED_ALL) | bits
    pe = ns.pe if ns.pe is not None else (base.pe_name if base else "")
    return Service(key, scheduler=sched, flags=flags, timeout=timeout, netmask=netmask, pe_name=pe)


def build_dest(ns: argparse.Namespace, key: ServiceKey, base: Destination | None) -> Destination:
    """The destination -a/-e describe (ipvsadm's defaults: -g, weight 1, port of the service)."""
    if ns.real_server is None:
        raise UsageError("-r is required for -a/-e/-d")
    af, addr, port = parse_hostport(ns.real_server, "real server")
    fwd = ns.fwd if ns.fwd is not None else (base.forward if base else Forward.DR)
    if port is None or (not key.fwmark and fwd in (Forward.DR, Forward.TUNNEL)):
        port = key.port
    if af != key.af and fwd != Forward.TUNNEL:
        raise UsageError("Different address family is allowed only for tunneling servers")
    weight = ns.weight if ns.weight is not None else (base.weight if base else 1)
    if not 0 <= weight <= 0x7FFFFFFF:
        raise UsageError("illegal weight specified")
    tun_type = TunType[ns.tun_type.upper()] if ns.tun_type else (base.tun_type if base else TunType.IPIP)
    tun_port = ns.tun_port if ns.tun_port is not None else (base.tun_port if base else 0)
    tun_flags = ns.tun_flags if ns.tun_flags is not None else (base.tun_flags if base else TUN_F_NOCSUM)
    if tun_type == TunType.GUE and not tun_port:
        raise UsageError("You need to supply the 'tun-port' option for the 'gue' tunnel type")
    if tun_type == TunType.IPIP and tun_flags == TUN_F_REMCSUM:
        raise UsageError("Illegal 'tun-remcsum' option with the 'ipip' tunnel type")
    return Destination(
        DestKey(af, addr, port),
        forward=fwd,
        weight=weight,
        u_threshold=ns.u_threshold if ns.u_threshold is not None else (base.u_threshold if base else 0),
        l_threshold=ns.l_threshold if ns.l_threshold is not None else (base.l_threshold if base else 0),
        tun_type=tun_type,
        tun_port=tun_port,
        tun_flags=tun_flags,
    )


# -- commands ------------------------------------------------------------------------------------------------


@dataclass
class Streams:
    stdin: TextIO
    stdout: TextIO
    stderr: TextIO


def _find(table: list[ServiceState], key: ServiceKey) -> ServiceState | None:
    return next((s for s in table if s.key == key), None)


def rule_to_op(ns: argparse.Namespace, table: list[ServiceState] | None) -> Op:
    """Turn one parsed -A/-E/-D/-a/-e/-d command into an :class:`Op` (``table`` gives edit bases)."""
    key = _service_key(ns)
    if key is None:
        raise UsageError("a service (-t, -u, --sctp-service or -f) is required")
    cur = _find(table, key) if table is not None else None
    if ns.add_service:
        return Op.add_service(build_service(ns, key, None))
    if ns.edit_service:
        return Op.edit_service(build_service(ns, key, cur.service if cur else None))
    if ns.delete_service:
        return Op.delete_service(key)
    if ns.add_server:
        return Op.add_dest(key, build_dest(ns, key, None))
    if ns.edit_server:
        if ns.real_server is None:
            raise UsageError("-r is required for -a/-e/-d")
        af, addr, port = parse_hostport(ns.real_server, "real server")
        want = DestKey(af, addr, key.port if port is None else port)
        base = next((d.dest for d in cur.dests if d.dest.key == want), None) if cur else None
        return Op.edit_dest(key, build_dest(ns, key, base))
    if ns.delete_server:
        return Op.delete_dest(key, build_dest(ns, key, None).key)
    raise UsageError("no command given")


async def _apply(backend: Backend, op: Op) -> None:
    [res] = await backend.apply_batch([op])
    if res is not None:
        raise res


def _glue_values(argv: Sequence[str]) -> list[str]:
    """Attach the value of -f/--fwmark-service to its option, so a negative fwmark (ipvsadm -S prints
    fwmarks above 2^31 with %d) is not mistaken for an option by argparse."""
    out: list[str] = []
    it = iter(argv)
    for a in it:
        if a in ("-f", "--fwmark-service"):
            value = next(it, None)
            if value is None:
                out.append(a)
                break
            out.append(f"--fwmark-service={value}")
        else:
            out.append(a)
    return out


def parse_command(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    return parser.parse_args(_glue_values(argv))


def _usage_error(stderr: TextIO, e: UsageError) -> None:
    stderr.write(f"pyipvsadm: {e}\nTry `pyipvsadm -h' or 'pyipvsadm --help' for more information.\n")


async def run(argv: Sequence[str], backend: Backend, io: Streams) -> int:
    """Execute one pyipvsadm command line against ``backend``; returns the exit status."""
    parser = build_parser()
    try:
        ns = parse_command(parser, argv)
        if ns.restore:
            return await _restore(parser, backend, io)
        if ns.clear:
            await backend.flush()
            return 0
        if ns.set is not None:
            await backend.set_timeouts(Timeouts(*ns.set))
            return 0
        if ns.start_daemon is not None:
            await backend.start_daemon(build_daemon(ns))
            return 0
        if ns.stop_daemon is not None:
            await backend.stop_daemon(SYNC_STATES[ns.stop_daemon])
            return 0
        if ns.zero:
            await backend.zero(_service_key(ns))
            return 0
        if ns.save:
            io.stdout.write(format_save(await backend.list_services(), sort=not ns.nosort))
            return 0
        if ns.list or not any((ns.add_service, ns.edit_service, ns.delete_service, ns.add_server,
                               ns.edit_server, ns.delete_server)):
            return await _list(ns, backend, io)
        needs_table = ns.edit_service or ns.edit_server
        table = await backend.list_services() if needs_table else None
        await _apply(backend, rule_to_op(ns, table))
        return 0
    except UsageError as e:
        _usage_error(io.stderr, e)
        return EXIT_USAGE
    except IPVSError as e:
        io.stderr.write(f"{e.message}\n")
        return EXIT_KERNEL


async def _list(ns: argparse.Namespace, backend: Backend, io: Streams) -> int:
    if ns.connection:
        io.stdout.write(format_connections(await backend.list_connections(), persistent_conn=ns.persistent_conn))
        return 0
    if ns.daemon:
        io.stdout.write(format_daemons(await backend.list_daemons()))
        return 0
    if ns.timeout:
        t = await backend.get_timeouts()
        io.stdout.write(f"Timeout (tcp tcpfin udp): {t.tcp} {t.tcp_fin} {t.udp}\n")
        return 0
    table = await backend.list_services()
    key = _service_key(ns)
    opts = dict(stats=ns.stats, rate=ns.rate, exact=ns.exact, thresholds=ns.thresholds,
                persistent_conn=ns.persistent_conn, sort=not ns.nosort)
    if key is not None:
        one = _find(table, key)
        if one is None:
            io.stderr.write("No such service\n")
            return 1
        io.stdout.write(format_list([one], None, **opts))
        return 0
    io.stdout.write(format_list(table, await backend.get_info(), **opts))
    return 0


async def _restore(parser: argparse.ArgumentParser, backend: Backend, io: Streams) -> int:
    ops: list[Op] = []
    for lineno, line in enumerate(io.stdin, 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        try:
            ns = parse_command(parser, words)
            ops.append(rule_to_op(ns, None))
        except UsageError as e:
            raise UsageError(f"<stdin> line {lineno}: {e}: {line.strip()!r}") from None
    status = 0
    for op, res in zip(ops, await backend.apply_batch(ops), strict=True):
        if isinstance(res, IPVSError):
            io.stderr.write(f"{res.message} ({op})\n")
            status = EXIT_KERNEL
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Console-script entry point ``pyipvsadm``."""
    args = list(sys.argv[1:] if argv is None else argv)
    io = Streams(sys.stdin, sys.stdout, sys.stderr)
    if any(a in ("-h", "--help") for a in args):
        build_parser().print_help(sys.stdout)
        return 0

    try:  # refuse a bad command line before touching the kernel
        ns = parse_command(build_parser(), args)
        _service_key(ns)
    except UsageError as e:
        _usage_error(sys.stderr, e)
        return EXIT_USAGE
    netns: str | None = ns.netns

    async def go() -> int:
        from ipvs.netlink import KernelBackend

        try:
            backend = KernelBackend(netns)
        except (IPVSError, OSError) as e:
            where = f"network namespace {netns!r}" if netns else "this network namespace"
            sys.stderr.write(f"pyipvsadm: cannot open the IPVS table of {where}: {e}\n")
            return EXIT_KERNEL
        try:
            return await run(args, backend, io)
        finally:
            await backend.close()

    return asyncio.run(go())


if __name__ == "__main__":
    sys.exit(main())
