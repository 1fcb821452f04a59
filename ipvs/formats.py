"""ipvsadm's output formats, byte for byte: ``-Ln`` (and ``--stats``, ``--rate``, ``--thresholds``,
``--persistent-conn``, ``--exact``), ``-S -n``, ``-Lnc`` (connections) and ``-L --daemon``.

ipvsadm sorts services and destinations with glibc's ``qsort`` (a top-down merge sort in glibc 2.36) and
comparators that subtract unsigned 32-bit values into a signed int, so e.g. 10.0.0.1 sorts *after* 200.0.0.1
and fwmark 4294967295 ("FWM  -1") sorts first. Those comparators are not a total order, so the exact merge
sort matters too; both are reproduced here.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Callable, Sequence
from typing import TypeVar

from ipvs.model import (
    AF_INET,
    AF_INET6,
    F_ONEPACKET,
    F_PERSISTENT,
    F_SCHED_ALL,
    Connection,
    Forward,
    Info,
    Service,
    ServiceState,
    SyncDaemon,
    TunType,
    sched_flag_names,
)
from ipvs.model import (
    DestState as _DestState,
)

T = TypeVar("T")

FWD_NAMES = {Forward.NAT: "Masq", Forward.LOCAL: "Local", Forward.TUNNEL: "Tunnel", Forward.DR: "Route"}
FWD_SWITCH = {Forward.NAT: "-m", Forward.LOCAL: "-g", Forward.TUNNEL: "-i", Forward.DR: "-g"}
TUN_NAMES = {TunType.IPIP: "ipip", TunType.GUE: "gue", TunType.GRE: "gre"}
TUN_FLAG_OPTS = ("--tun-nocsum", "--tun-csum", "--tun-remcsum")
PROTO_NAMES = {socket.IPPROTO_TCP: "TCP", socket.IPPROTO_UDP: "UDP", 132: "SCTP"}
PROTO_SWITCH = {socket.IPPROTO_TCP: "-t", socket.IPPROTO_UDP: "-u", 132: "--sctp-service"}


# -- ipvsadm's sort ------------------------------------------------------------------------------------------


def _c_int_diff(a: int, b: int) -> int:
    """``(int)(a - b)`` for unsigned 32-bit a and b, as C computes it."""
    d = (a - b) & 0xFFFFFFFF
    return d - 0x100000000 if d & 0x80000000 else d


def _words(af: int, addr: str) -> tuple[int, int, int, int]:
    """The four host-order 32-bit words of an nf_inet_addr (IPv4 in the first, the rest zero)."""
    if not addr:
        return (0, 0, 0, 0)
    raw = socket.inet_pton(af, addr)
    raw = raw + b"\0" * (16 - len(raw))
    w = struct.unpack("!4I", raw)
    return (w[0], w[1], w[2], w[3])


def _cmp_addr(af1: int, w1: tuple[int, ...], w2: tuple[int, ...]) -> int:
    if af1 == AF_INET6:
        r = 0
        for i in range(4):
            r = _c_int_diff(w1[i], w2[i])
            if r:
                break
        return r
    return _c_int_diff(w1[0], w2[0])


def cmp_services(s1: ServiceState, s2: ServiceState) -> int:
    """libipvs ``ipvs_cmp_services``: fwmark, af, protocol, address, port."""
    k1, k2 = s1.key, s2.key
    r = _c_int_diff(k1.fwmark, k2.fwmark)
    if r:
        return r
    r = k1.af - k2.af
    if r:
        return r
    r = k1.protocol - k2.protocol
    if r:
        return r
    r = _cmp_addr(k1.af, _words(k1.af, k1.addr), _words(k2.af, k2.addr))
    if r:
        return r
    return k1.port - k2.port


def cmp_dests(d1: _DestState, d2: _DestState) -> int:
    """libipvs ``ipvs_cmp_dests``: address (in the first entry's family), then port."""
    a, b = d1.dest.key, d2.dest.key
    r = _cmp_addr(a.af, _words(a.af, a.addr), _words(b.af, b.addr))
    if r:
        return r
    return a.port - b.port


def glibc_msort(items: Sequence[T], cmp: Callable[[T, T], int]) -> list[T]:
    """glibc 2.36 ``qsort``: top-down merge sort, left element first when ``cmp <= 0``."""
    out = list(items)

    def sort(lo: int, n: int) -> None:
        if n <= 1:
            return
        n1 = n // 2
        n2 = n - n1
        sort(lo, n1)
        sort(lo + n1, n2)
        left = out[lo : lo + n1]
        right = out[lo + n1 : lo + n]
        i = j = 0
        merged: list[T] = []
        while i < n1 and j < n2:
            if cmp(left[i], right[j]) <= 0:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                j += 1
        merged.extend(left[i:])
        merged.extend(right[j:])
        out[lo : lo + n] = merged

    sort(0, len(out))
    return out


def sort_table(services: Sequence[ServiceState]) -> list[ServiceState]:
    """Services and each service's destinations in ipvsadm's display order."""
    return [
        ServiceState(s.service, tuple(glibc_msort(s.dests, cmp_dests)), s.stats)
        for s in glibc_msort(services, cmp_services)
    ]


# -- names ---------------------------------------------------------------------------------------------------


def addrport(af: int, addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if af == AF_INET6 else f"{addr}:{port}"


def _mask_text(netmask: int) -> str:
    return str(ipaddress.IPv4Address(netmask & 0xFFFFFFFF))


def _fwmark_text(fwmark: int) -> int:
    """ipvsadm prints the u32 fwmark with %d."""
    return fwmark - 0x100000000 if fwmark & 0x80000000 else fwmark


def service_name(s: ServiceState, rule: bool) -> str:
    k = s.key
    if k.fwmark:
        fw = _fwmark_text(k.fwmark)
        if rule:
            return f"-f {fw} -6" if k.af == AF_INET6 else f"-f {fw}"
        return f"FWM  {fw} IPv6" if k.af == AF_INET6 else f"FWM  {fw}"
    vname = addrport(k.af, k.addr, k.port)
    if rule:
        return f"{PROTO_SWITCH.get(k.protocol, '-t')} {vname}"
    name = f"{PROTO_NAMES.get(k.protocol, 'TCP'):<4} {vname}"
    return name if k.af == AF_INET6 else name[:33]


def _largenum(i: int, exact: bool) -> str:
    if exact:
        n = len(str(i))
        return f"{i:>{9 if n <= 8 else n + 1}}"
    if i < 100_000_000:
        return f"{i:>9}"
    if i < 1_000_000_000:
        return f"{i // 1000:>8}K"
    if i < 100_000_000_000:
        return f"{i // 1_000_000:>8}M"
    if i < 100_000_000_000_000:
        return f"{i // 1_000_000_000:>8}G"
    return f"{i // 1_000_000_000_000:>8}T"


# -- listing -------------------------------------------------------------------------------------------------


def _title(stats: bool, rate: bool, thresholds: bool, persistent_conn: bool) -> str:
    if stats:
        return (f"{'Prot LocalAddress:Port':<33} {'Conns':>8} {'InPkts':>8} {'OutPkts':>8} {'InBytes':>8} "
                f"{'OutBytes':>8}\n  -> RemoteAddress:Port\n")
    if rate:
        return (f"{'Prot LocalAddress:Port':<33} {'CPS':>8} {'InPPS':>8} {'OutPPS':>8} {'InBPS':>8} "
                f"{'OutBPS':>8}\n  -> RemoteAddress:Port\n")
    if thresholds:
        return (f"{'Prot LocalAddress:Port':<33} {'Uthreshold':<10} {'Lthreshold':<10} {'ActiveConn':<10} "
                f"{'InActConn':<10}\n  -> RemoteAddress:Port\n")
    if persistent_conn:
        return (f"{'Prot LocalAddress:Port':<33} {'Weight':<9} {'PersistConn':<11} {'ActiveConn':<10} "
                f"{'InActConn':<10}\n  -> RemoteAddress:Port\n")
    return ("Prot LocalAddress:Port Scheduler Flags\n"
            "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")


def _service_line(s: ServiceState, stats: bool, rate: bool, exact: bool) -> str:
    name = service_name(s, rule=False)
    st = s.stats
    if stats:
        nums = (st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes)
        return f"{name:<33}" + "".join(_largenum(v, exact) for v in nums)
    if rate:
        nums = (st.cps, st.inpps, st.outpps, st.inbps, st.outbps)
        return f"{name:<33}" + "".join(_largenum(v, exact) for v in nums)
    svc = s.service
    line = f"{name} {svc.scheduler}"
    if svc.flags & F_SCHED_ALL:
        line += f" ({','.join(sched_flag_names(svc.scheduler, svc.flags))})"
    if svc.flags & F_PERSISTENT:
        line += f" persistent {svc.timeout}"
        if (mask := _persistence_mask(svc)) is not None:
            line += f" mask {mask}"
        if svc.pe_name:
            line += f" pe {svc.pe_name}"
    if svc.flags & F_ONEPACKET:
        line += " ops"
    return line


def _persistence_mask(svc: Service) -> str | None:
    """The persistence netmask as ipvsadm prints it (dotted IPv4, IPv6 prefix length), or None at its default."""
    if svc.key.af == AF_INET and svc.netmask != 0xFFFFFFFF:
        return _mask_text(svc.netmask)
    if svc.key.af == AF_INET6 and svc.netmask != 128:
        return str(svc.netmask)
    return None


def _dest_line(s: ServiceState, d: _DestState, stats: bool, rate: bool, exact: bool, thresholds: bool,
               persistent_conn: bool) -> str:
    k = d.dest.key
    dname = addrport(k.af, k.addr, k.port)
    if s.key.af != AF_INET6:
        dname = dname[:28]
    st = d.stats
    if stats:
        nums = (st.conns, st.inpkts, st.outpkts, st.inbytes, st.outbytes)
        return f"  -> {dname:<28}" + "".join(_largenum(v, exact) for v in nums)
    if rate:
        return (f"  -> {dname:<28} {st.cps:>8} {st.inpps:>8} {st.outpps:>8}"
                + _largenum(st.inbps, exact) + _largenum(st.outbps, exact))
    if thresholds:
        return (f"  -> {dname:<28} {d.dest.u_threshold:<10} {d.dest.l_threshold:<10} "
                f"{d.active_conns:<10} {d.inact_conns:<10}")
    if persistent_conn:
        return (f"  -> {dname:<28} {d.dest.weight:<9} {d.persist_conns:<11} "
                f"{d.active_conns:<10} {d.inact_conns:<10}")
    fwd = FWD_NAMES.get(d.dest.forward, "")
    return f"  -> {dname:<28} {fwd:<7} {d.dest.weight:<6} {d.active_conns:<10} {d.inact_conns:<10}"


def format_list(
    services: Sequence[ServiceState],
    info: Info | None = None,
    *,
    stats: bool = False,
    rate: bool = False,
    exact: bool = False,
    thresholds: bool = False,
    persistent_conn: bool = False,
    sort: bool = True,
) -> str:
    """``ipvsadm -Ln [--stats|--rate|--thresholds|--persistent-conn] [--exact]``; ``info`` None omits the
    version line (as ipvsadm does when listing one service)."""
    out: list[str] = []
    if info is not None:
        out.append(f"IP Virtual Server version {info.version_text} (size={info.conn_tab_size})\n")
    out.append(_title(stats, rate, thresholds, persistent_conn))
    table = sort_table(services) if sort else list(services)
    for s in table:
        out.append(_service_line(s, stats, rate, exact) + "\n")
        for d in s.dests:
            out.append(_dest_line(s, d, stats, rate, exact, thresholds, persistent_conn) + "\n")
    return "".join(out)


def format_save(services: Sequence[ServiceState], *, sort: bool = True) -> str:
    """``ipvsadm -S -n``: one ipvsadm command per line, replayable with ``-R``."""
    out: list[str] = []
    table = sort_table(services) if sort else list(services)
    for s in table:
        svc = s.service
        name = service_name(s, rule=True)
        line = f"-A {name} -s {svc.scheduler}"
        if svc.flags & F_PERSISTENT:
            line += f" -p {svc.timeout}"
            if (mask := _persistence_mask(svc)) is not None:
                line += f" -M {mask}"
        if svc.pe_name:
            line += f" --pe {svc.pe_name}"
        if svc.flags & F_ONEPACKET:
            line += " -o"
        if svc.flags & F_SCHED_ALL:
            line += f" -b {','.join(sched_flag_names(svc.scheduler, svc.flags))}"
        out.append(line + "\n")
        for d in s.dests:
            dest = d.dest
            dname = addrport(dest.key.af, dest.key.addr, dest.key.port)
            line = f"-a {name} -r {dname} {FWD_SWITCH.get(dest.forward, '')} -w {dest.weight}"
            if dest.forward == Forward.TUNNEL:
                line += f" --tun-type {TUN_NAMES.get(dest.tun_type, '')}"
                if dest.tun_type == TunType.GUE:
                    line += f" --tun-port {dest.tun_port}"
                if dest.tun_type in (TunType.GUE, TunType.GRE) and dest.tun_flags < len(TUN_FLAG_OPTS):
                    line += f" {TUN_FLAG_OPTS[dest.tun_flags]}"
            out.append(line + "\n")
    return "".join(out)


# -- connections and sync daemons ----------------------------------------------------------------------------


def _proc_addr4(word: str) -> str:
    return str(ipaddress.IPv4Address(int(word, 16) & 0xFFFFFFFF))


def _proc_addr6(word: str) -> str:
    return str(ipaddress.IPv6Address(word.strip("[]")))


def parse_proc_connections(text: str) -> list[Connection]:
    """The kernel's ``/proc/net/ip_vs_conn`` (a header line, then ``PRO CADDR CPORT VADDR VPORT DADDR DPORT STATE
    EXPIRES [PENAME PEDATA]``; IPv4 addresses and all ports in hex, IPv6 addresses written out), read as
    ipvsadm's print_conn reads it: the family follows the client address."""
    out = []
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 9:
            continue
        try:
            af = AF_INET6 if ":" in f[1] else AF_INET
            addr = _proc_addr6 if af == AF_INET6 else _proc_addr4
            out.append(Connection(f[0], af, addr(f[1]), int(f[2], 16), addr(f[3]), int(f[4], 16), addr(f[5]),
                                  int(f[6], 16), f[7], int(f[8]), f[9] if len(f) > 9 else "",
                                  f[10] if len(f) > 10 else ""))
        except ValueError:
            continue
    return out


def format_connections(conns: Sequence[Connection], *, persistent_conn: bool = False) -> str:
    """``ipvsadm -Lnc`` (``--persistent-conn`` adds the persistence engine's name and data)."""
    lines = ["IPVS connection entries"]
    if persistent_conn:
        lines.append(f"pro expire {'state':<11} {'source':<18} {'virtual':<18} {'destination':<18} "
                     f"{'pe name':<16} pe_data")
    else:
        lines.append(f"pro expire {'state':<11} {'source':<18} {'virtual':<18} destination")
    for c in conns:
        expire = f"{c.expires // 60:02d}:{c.expires % 60:02d}"
        src, vip, dst = (addrport(c.af, c.caddr, c.cport), addrport(c.af, c.vaddr, c.vport),
                         addrport(c.af, c.daddr, c.dport))
        if persistent_conn and c.pe_name:
            lines.append(f"{c.protocol:<3} {expire:<6} {c.state:<11} {src:<18} {vip:<18} {dst:<16} "
                         f"{c.pe_name:<18} {c.pe_data}")
        else:
            lines.append(f"{c.protocol:<3} {expire:<6} {c.state:<11} {src:<18} {vip:<18} {dst}")
    return "\n".join(lines) + "\n"


def format_daemons(daemons: Sequence[SyncDaemon]) -> str:
    """``ipvsadm -L --daemon``: one line per running sync daemon, master first."""
    out = []
    for d in sorted(daemons, key=lambda d: d.state):
        text = f"{d.state_name} sync daemon (mcast={d.mcast_ifn}, syncid={d.syncid}"
        if d.sync_maxlen:
            text += f", maxlen={d.sync_maxlen}"
        if d.mcast_group:
            text += f", group={d.mcast_group}"
        if d.mcast_port:
            text += f", port={d.mcast_port}"
        if d.mcast_ttl:
            text += f", ttl={d.mcast_ttl}"
        out.append(text + ")\n")
    return "".join(out)
