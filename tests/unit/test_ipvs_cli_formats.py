"""pyipvsadm's formats against ipvsadm's real output (captured from ipvsadm 1.31 on Linux 6.1 in UML) and its
command-line parsing, on the memory backend.

The golden table exercises ipvsadm's quirks: fwmark 4294967295 printed as -1 and sorted first, 10.x sorted
after 200.x and 255.x (unsigned differences read as signed), a destination order that only glibc's merge sort
with the non-transitive comparator produces, sh/mh flag names, IPv6 names longer than the columns.
"""

from __future__ import annotations

import asyncio
import io

import pytest

from ipvs.cli import Streams, run
from ipvs.formats import cmp_dests, format_list, format_save, glibc_msort
from ipvs.memory import MemoryBackend
from ipvs.model import (
    AF_INET6,
    F_ONEPACKET,
    F_PERSISTENT,
    F_SCHED1,
    F_SCHED2,
    F_SCHED3,
    Destination,
    DestState,
    Forward,
    Info,
    Service,
    ServiceKey,
    ServiceState,
    Stats,
    TunType,
)
from ipvs.ops import Op

GOLDEN = {
    '-Ln': (
        'IP Virtual Server version 1.2.1 (size=4096)\n'
        'Prot LocalAddress:Port Scheduler Flags\n'
        '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n'
        'FWM  -1 rr\n'
        'TCP  200.0.0.1:80 wlc\n'
        'TCP  255.255.255.254:65535 rr\n'
        '  -> 255.255.255.253:65535        Masq    1234567 0          0         \n'
        'TCP  10.0.0.1:80 sh (sh-port)\n'
        'TCP  10.0.0.101:80 dh (flag-1) persistent 10 mask 255.255.0.0 pe sip\n'
        '  -> 10.0.0.30:80                 Tunnel  1      0          0         \n'
        '  -> 10.0.0.31:80                 Tunnel  1      0          0         \n'
        '  -> 10.0.0.32:80                 Tunnel  1      0          0         \n'
        '  -> 10.0.0.33:80                 Route   1      0          0         \n'
        '  -> 10.0.0.34:80                 Route   1      0          0         \n'
        '  -> 10.0.0.35:99                 Masq    1      0          0         \n'
        '  -> 127.0.0.1:80                 Masq    1      0          0         \n'
        '  -> 192.0.2.1:80                 Masq    1      0          0         \n'
        '  -> 200.0.0.36:80                Masq    1      0          0         \n'
        '  -> [fd00::99]:80                Tunnel  1      0          0         \n'
        '  -> 10.0.0.36:80                 Masq    1      0          0         \n'
        'UDP  100.0.0.1:80 wrr persistent 360 ops\n'
        'SCTP 10.0.0.100:9 lc\n'
        'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 sh (sh-port) persistent 1\n'
        '  -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 Masq    65535  0          0         \n'
        'FWM  1 IPv6 mh (mh-fallback) persistent 100 mask 64\n'
        '  -> [fd00::5]:0                  Route   1      0          0         \n'
        '  -> [fd00::6]:77                 Route   1      0          0         \n'
    ),
    '-Ln --stats': (
        'IP Virtual Server version 1.2.1 (size=4096)\n'
        'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n'
        '  -> RemoteAddress:Port\n'
        'FWM  -1                                  0        0        0        0        0\n'
        'TCP  200.0.0.1:80                        0        0        0        0        0\n'
        'TCP  255.255.255.254:65535               0        0        0        0        0\n'
        '  -> 255.255.255.253:65535               0        0        0        0        0\n'
        'TCP  10.0.0.1:80                         0        0        0        0        0\n'
        'TCP  10.0.0.101:80                       0        0        0        0        0\n'
        '  -> 10.0.0.30:80                        0        0        0        0        0\n'
        '  -> 10.0.0.31:80                        0        0        0        0        0\n'
        '  -> 10.0.0.32:80                        0        0        0        0        0\n'
        '  -> 10.0.0.33:80                        0        0        0        0        0\n'
        '  -> 10.0.0.34:80                        0        0        0        0        0\n'
        '  -> 10.0.0.35:99                        0        0        0        0        0\n'
        '  -> 127.0.0.1:80                        0        0        0        0        0\n'
        '  -> 192.0.2.1:80                        0        0        0        0        0\n'
        '  -> 200.0.0.36:80                       0        0        0        0        0\n'
        '  -> [fd00::99]:80                       0        0        0        0        0\n'
        '  -> 10.0.0.36:80                        0        0        0        0        0\n'
        'UDP  100.0.0.1:80                        0        0        0        0        0\n'
        'SCTP 10.0.0.100:9                        0        0        0        0        0\n'
        'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0        0        0        0        0\n'
        '  -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535        0        0        0        0        0\n'
        'FWM  1 IPv6                              0        0        0        0        0\n'
        '  -> [fd00::5]:0                         0        0        0        0        0\n'
        '  -> [fd00::6]:77                        0        0        0        0        0\n'
    ),
    '-S -n': (
        '-A -f -1 -s rr\n'
        '-A -t 200.0.0.1:80 -s wlc\n'
        '-A -t 255.255.255.254:65535 -s rr\n'
        '-a -t 255.255.255.254:65535 -r 255.255.255.253:65535 -m -w 1234567\n'
        '-A -t 10.0.0.1:80 -s sh -b sh-port\n'
        '-A -t 10.0.0.101:80 -s dh -p 10 -M 255.255.0.0 --pe sip -b flag-1\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.30:80 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.31:80 -i -w 1 --tun-type gre --tun-csum\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.32:80 -i -w 1 --tun-type gue --tun-port 7 --tun-remcsum\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.33:80 -g -w 1\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.34:80 -g -w 1\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.35:99 -m -w 1\n'
        '-a -t 10.0.0.101:80 -r 127.0.0.1:80 -m -w 1\n'
        '-a -t 10.0.0.101:80 -r 192.0.2.1:80 -m -w 1\n'
        '-a -t 10.0.0.101:80 -r 200.0.0.36:80 -m -w 1\n'
        '-a -t 10.0.0.101:80 -r [fd00::99]:80 -i -w 1 --tun-type ipip\n'
        '-a -t 10.0.0.101:80 -r 10.0.0.36:80 -m -w 1\n'
        '-A -u 100.0.0.1:80 -s wrr -p 360 -o\n'
        '-A --sctp-service 10.0.0.100:9 -s lc --pe sip\n'
        '-A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -s sh -p 1 -b sh-port\n'
        '-a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -r [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 -m -w 65535\n'  # noqa: E501
        '-A -f 1 -6 -s mh -p 100 -M 64 -b mh-fallback\n'
        '-a -f 1 -6 -r [fd00::5]:0 -g -w 1\n'
        '-a -f 1 -6 -r [fd00::6]:77 -g -w 1\n'
    ),
    '-Ln --rate': (
        'IP Virtual Server version 1.2.1 (size=4096)\n'
        'Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n'
        '  -> RemoteAddress:Port\n'
        'FWM  -1                                  0        0        0        0        0\n'
        'TCP  200.0.0.1:80                        0        0        0        0        0\n'
        'TCP  255.255.255.254:65535               0        0        0        0        0\n'
        '  -> 255.255.255.253:65535               0        0        0        0        0\n'
        'TCP  10.0.0.1:80                         0        0        0        0        0\n'
        'TCP  10.0.0.101:80                       0        0        0        0        0\n'
        '  -> 10.0.0.30:80                        0        0        0        0        0\n'
        '  -> 10.0.0.31:80                        0        0        0        0        0\n'
        '  -> 10.0.0.32:80                        0        0        0        0        0\n'
        '  -> 10.0.0.33:80                        0        0        0        0        0\n'
        '  -> 10.0.0.34:80                        0        0        0        0        0\n'
        '  -> 10.0.0.35:99                        0        0        0        0        0\n'
        '  -> 127.0.0.1:80                        0        0        0        0        0\n'
        '  -> 192.0.2.1:80                        0        0        0        0        0\n'
        '  -> 200.0.0.36:80                       0        0        0        0        0\n'
        '  -> [fd00::99]:80                       0        0        0        0        0\n'
        '  -> 10.0.0.36:80                        0        0        0        0        0\n'
        'UDP  100.0.0.1:80                        0        0        0        0        0\n'
        'SCTP 10.0.0.100:9                        0        0        0        0        0\n'
        'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0        0        0        0        0\n'
        '  -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535        0        0        0        0        0\n'
        'FWM  1 IPv6                              0        0        0        0        0\n'
        '  -> [fd00::5]:0                         0        0        0        0        0\n'
        '  -> [fd00::6]:77                        0        0        0        0        0\n'
    ),
    '-Ln --thresholds': (
        'IP Virtual Server version 1.2.1 (size=4096)\n'
        'Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n'
        '  -> RemoteAddress:Port\n'
        'FWM  -1 rr\n'
        'TCP  200.0.0.1:80 wlc\n'
        'TCP  255.255.255.254:65535 rr\n'
        '  -> 255.255.255.253:65535        0          0          0          0         \n'
        'TCP  10.0.0.1:80 sh (sh-port)\n'
        'TCP  10.0.0.101:80 dh (flag-1) persistent 10 mask 255.255.0.0 pe sip\n'
        '  -> 10.0.0.30:80                 0          0          0          0         \n'
        '  -> 10.0.0.31:80                 5          0          0          0         \n'
        '  -> 10.0.0.32:80                 0          0          0          0         \n'
        '  -> 10.0.0.33:80                 0          0          0          0         \n'
        '  -> 10.0.0.34:80                 0          0          0          0         \n'
        '  -> 10.0.0.35:99                 0          0          0          0         \n'
        '  -> 127.0.0.1:80                 0          0          0          0         \n'
        '  -> 192.0.2.1:80                 10         3          0          0         \n'
        '  -> 200.0.0.36:80                0          0          0          0         \n'
        '  -> [fd00::99]:80                0          0          0          0         \n'
        '  -> 10.0.0.36:80                 0          0          0          0         \n'
        'UDP  100.0.0.1:80 wrr persistent 360 ops\n'
        'SCTP 10.0.0.100:9 lc\n'
        'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 sh (sh-port) persistent 1\n'
        '  -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 0          0          0          0         \n'
        'FWM  1 IPv6 mh (mh-fallback) persistent 100 mask 64\n'
        '  -> [fd00::5]:0                  0          0          0          0         \n'
        '  -> [fd00::6]:77                 0          0          0          0         \n'
    ),
    '-Ln --persistent-conn': (
        'IP Virtual Server version 1.2.1 (size=4096)\n'
        'Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n'
        '  -> RemoteAddress:Port\n'
        'FWM  -1 rr\n'
        'TCP  200.0.0.1:80 wlc\n'
        'TCP  255.255.255.254:65535 rr\n'
        '  -> 255.255.255.253:65535        1234567   0           0          0         \n'
        'TCP  10.0.0.1:80 sh (sh-port)\n'
        'TCP  10.0.0.101:80 dh (flag-1) persistent 10 mask 255.255.0.0 pe sip\n'
        '  -> 10.0.0.30:80                 1         0           0          0         \n'
        '  -> 10.0.0.31:80                 1         0           0          0         \n'
        '  -> 10.0.0.32:80                 1         0           0          0         \n'
        '  -> 10.0.0.33:80                 1         0           0          0         \n'
        '  -> 10.0.0.34:80                 1         0           0          0         \n'
        '  -> 10.0.0.35:99                 1         0           0          0         \n'
        '  -> 127.0.0.1:80                 1         0           0          0         \n'
        '  -> 192.0.2.1:80                 1         0           0          0         \n'
        '  -> 200.0.0.36:80                1         0           0          0         \n'
        '  -> [fd00::99]:80                1         0           0          0         \n'
        '  -> 10.0.0.36:80                 1         0           0          0         \n'
        'UDP  100.0.0.1:80 wrr persistent 360 ops\n'
        'SCTP 10.0.0.100:9 lc\n'
        'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 sh (sh-port) persistent 1\n'
        '  -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 65535     0           0          0         \n'
        'FWM  1 IPv6 mh (mh-fallback) persistent 100 mask 64\n'
        '  -> [fd00::5]:0                  1         0           0          0         \n'
        '  -> [fd00::6]:77                 1         0           0          0         \n'
    ),
    '-Ln --stats --exact': (
        'IP Virtual Server version 1.2.1 (size=4096)\n'
        'Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n'
        '  -> RemoteAddress:Port\n'
        'FWM  -1                                  0        0        0        0        0\n'
        'TCP  200.0.0.1:80                        0        0        0        0        0\n'
        'TCP  255.255.255.254:65535               0        0        0        0        0\n'
        '  -> 255.255.255.253:65535               0        0        0        0        0\n'
        'TCP  10.0.0.1:80                         0        0        0        0        0\n'
        'TCP  10.0.0.101:80                       0        0        0        0        0\n'
        '  -> 10.0.0.30:80                        0        0        0        0        0\n'
        '  -> 10.0.0.31:80                        0        0        0        0        0\n'
        '  -> 10.0.0.32:80                        0        0        0        0        0\n'
        '  -> 10.0.0.33:80                        0        0        0        0        0\n'
        '  -> 10.0.0.34:80                        0        0        0        0        0\n'
        '  -> 10.0.0.35:99                        0        0        0        0        0\n'
        '  -> 127.0.0.1:80                        0        0        0        0        0\n'
        '  -> 192.0.2.1:80                        0        0        0        0        0\n'
        '  -> 200.0.0.36:80                       0        0        0        0        0\n'
        '  -> [fd00::99]:80                       0        0        0        0        0\n'
        '  -> 10.0.0.36:80                        0        0        0        0        0\n'
        'UDP  100.0.0.1:80                        0        0        0        0        0\n'
        'SCTP 10.0.0.100:9                        0        0        0        0        0\n'
        'TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0        0        0        0        0\n'
        '  -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535        0        0        0        0        0\n'
        'FWM  1 IPv6                              0        0        0        0        0\n'
        '  -> [fd00::5]:0                         0        0        0        0        0\n'
        '  -> [fd00::6]:77                        0        0        0        0        0\n'
    ),
}

#: the commands that built the golden table (ipvsadm syntax), replayed through pyipvsadm
COMMANDS = [
    '-A -t 10.0.0.101:80 -s dh -b flag-1 -p 10 --pe sip -M 255.255.0.0',
    '-a -t 10.0.0.101:80 -r 10.0.0.30:80 -i --tun-type gue --tun-port 6080 --tun-nocsum',
    '-a -t 10.0.0.101:80 -r 10.0.0.31:80 -i --tun-type gre --tun-csum -x 5',
    '-a -t 10.0.0.101:80 -r 10.0.0.32:80 -i --tun-type gue --tun-port 7 --tun-remcsum',
    '-a -t 10.0.0.101:80 -r 10.0.0.33 -g',
    '-a -t 10.0.0.101:80 -r 10.0.0.34:99 -g',
    '-a -t 10.0.0.101:80 -r 10.0.0.35:99 -m',
    '-a -t 10.0.0.101:80 -r 10.0.0.36 -m',
    '-a -t 10.0.0.101:80 -r 200.0.0.36 -m',
    '-a -t 10.0.0.101:80 -r [fd00::99]:80 -i',
    '-a -t 10.0.0.101:80 -r 127.0.0.1:80 -m',
    '-a -t 10.0.0.101:80 -r 192.0.2.1:80 -m -x 10 -y 3',
    '-A -t 200.0.0.1:80',
    '-A -u 100.0.0.1:80 -s wrr -o -p',
    '-A -t 10.0.0.1:80 -s sh -b sh-port,flag-3 -M 255.255.0.0',
    '-A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -s sh -b sh-port -p 1 -M 128',
    '-a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -r [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 -m -w 65535',  # noqa: E501
    '-A -t 255.255.255.254:65535 -s rr',
    '-a -t 255.255.255.254:65535 -r 255.255.255.253:65535 -m -w 1234567',
    '-A -f 4294967295 -s rr',
    '-A -f 1 -6 -s mh -b mh-fallback -p 100 -M 64',
    '-a -f 1 -6 -r fd00::5 -g',
    '-a -f 1 -6 -r [fd00::6]:77 -g',
    '-A --sctp-service 10.0.0.100:9 -s lc --pe sip',
]


def pyipvsadm(backend: MemoryBackend, argv: list[str], stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = asyncio.run(run(argv, backend, Streams(io.StringIO(stdin), out, err)))
    return rc, out.getvalue(), err.getvalue()


def golden_backend() -> MemoryBackend:
    backend = MemoryBackend()
    for line in COMMANDS:
        rc, _, err = pyipvsadm(backend, line.split())
        assert rc == 0, (line, err)
    return backend


@pytest.mark.parametrize("variant", sorted(GOLDEN))
def test_output_is_byte_identical_to_ipvsadm(variant: str) -> None:
    rc, out, err = pyipvsadm(golden_backend(), variant.split())
    assert rc == 0, err
    assert out == GOLDEN[variant]


def test_restore_of_ipvsadm_save_rebuilds_the_table() -> None:
    backend = MemoryBackend()
    rc, _, err = pyipvsadm(backend, ["-R"], stdin=GOLDEN["-S -n"])
    assert rc == 0, err
    rc, out, _ = pyipvsadm(backend, ["-S", "-n"])
    assert sorted(out.splitlines()) == sorted(GOLDEN["-S -n"].splitlines())


def test_glibc_merge_sort_reproduces_ipvsadm_order_from_the_kernel_listing_order() -> None:
    """The kernel lists destinations newest first; ipvsadm's non-transitive comparator then puts 10.0.0.36
    last. A stable sort or a total order would not."""
    added = ["10.0.0.30", "10.0.0.31", "10.0.0.32", "10.0.0.33", "10.0.0.34", "10.0.0.35", "10.0.0.36",
             "200.0.0.36", "fd00::99", "127.0.0.1", "192.0.2.1"]
    listing = [DestState(Destination.of(a, 99 if a == "10.0.0.35" else 80)) for a in reversed(added)]
    shown = [d.dest.key.addr for d in glibc_msort(listing, cmp_dests)]
    assert shown == ["10.0.0.30", "10.0.0.31", "10.0.0.32", "10.0.0.33", "10.0.0.34", "10.0.0.35",
                     "127.0.0.1", "192.0.2.1", "200.0.0.36", "fd00::99", "10.0.0.36"]
    assert sorted(shown) != shown


def test_large_counters_are_abbreviated_like_ipvsadm_unless_exact() -> None:
    key = ServiceKey.inet(6, "10.0.0.1", 80)
    stats = Stats(conns=123_456_789, inpkts=5_000_000_000, outpkts=99, inbytes=200_000_000_000_000,
                  outbytes=12_345_678_901_234)
    table = [ServiceState(Service(key, "rr"), (), stats)]
    name = f"{'TCP  10.0.0.1:80':<33}"
    assert format_list(table, Info(), stats=True).splitlines()[3] == (
        name + "  123456K" + "    5000M" + "       99" + "     200T" + "   12345G")
    assert format_list(table, Info(), stats=True, exact=True).splitlines()[3] == (
        name + " 123456789" + " 5000000000" + "       99" + " 200000000000000" + " 12345678901234")


def test_save_format_spells_every_option() -> None:
    key = ServiceKey.inet(17, "fd00::1", 53)
    svc = Service(key, "sh", flags=F_PERSISTENT | F_ONEPACKET | F_SCHED1 | F_SCHED2 | F_SCHED3, timeout=30,
                  netmask=64, pe_name="sip")
    dests = (DestState(Destination.of("10.0.0.1", 53, forward=Forward.TUNNEL, tun_type=TunType.GUE,
                                      tun_port=6080, tun_flags=1)),)
    assert format_save([ServiceState(svc, dests)]) == (
        "-A -u [fd00::1]:53 -s sh -p 30 -M 64 --pe sip -o -b sh-fallback,sh-port\n"
        "-a -u [fd00::1]:53 -r 10.0.0.1:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum\n")
    mark = ServiceKey.mark(2**32 - 2, AF_INET6)
    assert format_save([ServiceState(Service(mark, "rr"))]) == "-A -f -2 -6 -s rr\n"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-A", "-t", "10.0.0.1:80", "-o"], "One-Packet Scheduling is only for UDP"),
        (["-A", "-t", "10.0.0.1:80", "-p", "0"], "invalid timeout value"),
        (["-A", "-t", "[fd00::1]:80", "-p", "-M", "129"], "illegal ipv6 netmask"),
        (["-A", "-t", "not-an-ip:80"], "not a numeric IP address"),
        (["-A", "-t", "10.0.0.1:99999"], "illegal service port"),
        (["-a", "-t", "10.0.0.1:80", "-r", "fd00::1", "-m"], "Different address family"),
        (["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2", "-i", "--tun-type", "gue"], "tun-port"),
        (["-A", "-t", "10.0.0.1:80", "-s", "rr", "-b", "sh-port"], "needs scheduler 'sh'"),
        (["-A", "-f", "0"], "illegal fwmark"),
        (["-A", "--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_command_lines_get_a_clear_error_not_a_traceback(argv: list[str], message: str) -> None:
    rc, out, err = pyipvsadm(MemoryBackend(), argv)
    assert rc == 2 and out == ""
    assert message in err and "Traceback" not in err


def test_kernel_errors_use_ipvsadm_wording_and_exit_status() -> None:
    backend = MemoryBackend()
    assert pyipvsadm(backend, ["-A", "-t", "10.0.0.1:80"])[0] == 0
    assert pyipvsadm(backend, ["-A", "-t", "10.0.0.1:80"]) == (255, "", "Service already exists\n")
    assert pyipvsadm(backend, ["-d", "-t", "10.0.0.1:80", "-r", "10.0.0.9"]) == (
        255, "", "No such destination\n")
    assert pyipvsadm(backend, ["-D", "-t", "10.0.0.9:80"]) == (255, "", "No such service\n")
    assert pyipvsadm(backend, ["-a", "-t", "10.0.0.9:80", "-r", "10.0.0.2"]) == (
        255, "", "Service not defined\n")
    assert pyipvsadm(backend, ["-Ln", "-t", "10.0.0.9:80"]) == (1, "", "No such service\n")


def test_restore_names_the_bad_line_and_applies_nothing() -> None:
    backend = MemoryBackend()
    rc, _, err = pyipvsadm(backend, ["-R"], stdin="-A -t 1.2.3.4:5 -s rr\ngarbage\n")
    assert rc == 2 and "line 2" in err and "garbage" in err
    assert asyncio.run(backend.list_services()) == []


def test_edit_keeps_options_not_given() -> None:
    backend = MemoryBackend()
    pyipvsadm(backend, ["-A", "-t", "10.0.0.1:80", "-s", "rr", "-p", "60"])
    pyipvsadm(backend, ["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2:8080", "-m", "-w", "5", "-x", "9"])
    assert pyipvsadm(backend, ["-E", "-t", "10.0.0.1:80", "-s", "wrr"])[0] == 0
    assert pyipvsadm(backend, ["-e", "-t", "10.0.0.1:80", "-r", "10.0.0.2:8080", "-w", "7"])[0] == 0
    [svc] = asyncio.run(backend.list_services())
    assert (svc.service.scheduler, svc.service.timeout, svc.service.persistent) == ("wrr", 60, True)
    d = svc.dests[0].dest
    assert (d.weight, d.forward, d.u_threshold) == (7, Forward.NAT, 9)


def test_dr_and_tunnel_destinations_take_the_service_port_like_ipvsadm() -> None:
    backend = MemoryBackend()
    pyipvsadm(backend, ["-A", "-t", "10.0.0.1:80"])
    pyipvsadm(backend, ["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.2:99", "-g"])
    pyipvsadm(backend, ["-a", "-t", "10.0.0.1:80", "-r", "10.0.0.3:99", "-m"])
    pyipvsadm(backend, ["-A", "-f", "5"])
    pyipvsadm(backend, ["-a", "-f", "5", "-r", "10.0.0.4"])
    ports = {d.dest.key.addr: d.dest.key.port for s in asyncio.run(backend.list_services()) for d in s.dests}
    assert ports == {"10.0.0.2": 80, "10.0.0.3": 99, "10.0.0.4": 0}


def test_clear_zero_and_timeouts() -> None:
    backend = golden_backend()
    assert pyipvsadm(backend, ["--set", "100", "0", "50"])[0] == 0
    assert pyipvsadm(backend, ["-L", "--timeout"])[1] == "Timeout (tcp tcpfin udp): 100 120 50\n"
    assert pyipvsadm(backend, ["-Z"])[0] == 0
    assert pyipvsadm(backend, ["-C"])[0] == 0
    assert pyipvsadm(backend, ["-S", "-n"])[1] == ""
    assert Op.delete_service(ServiceKey.mark(1)).key.fwmark == 1
