"""The sync daemon and connection listing without a kernel: the memory oracle's rules (one daemon per state,
the kernel's defaults, its errnos), pyipvsadm's options, and /proc/net/ip_vs_conn read as ipvsadm reads it.
The same behaviour is compared with the real kernel and ipvsadm in tests/kernel/test_ipvs_kernel.py."""

from __future__ import annotations

import asyncio
import errno
import io

import pytest

from ipvs.cli import Streams, run
from ipvs.errors import IPVSError
from ipvs.formats import format_connections, format_daemons, parse_proc_connections
from ipvs.memory import MemoryBackend
from ipvs.model import AF_INET6, STATE_BACKUP, STATE_MASTER, SyncDaemon

PROC = """Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP 0A010002 99C8 0A010064 0050 0A020102 0050 ESTABLISHED     899
UDP fd00:0000:0000:0000:0000:0000:0000:0002 1F90 fd00:0000:0000:0000:0000:0000:0000:0064 0035 \
fd00:0000:0000:0000:0000:0000:0001:0002 0035 UDP              61
TCP 0A010002 99C9 0A010064 13C4 0A020102 13C4 ESTABLISHED      59 sip 1234@host
"""


def pyipvsadm(b: MemoryBackend, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    rc = asyncio.run(run(list(argv), b, Streams(io.StringIO(), out, err)))
    return rc, out.getvalue(), err.getvalue()


def test_one_daemon_per_state_with_the_kernels_defaults_and_errnos() -> None:
    b = MemoryBackend(interfaces={"eth0": 1500, "lo": 65536})

    async def go() -> None:
        with pytest.raises(IPVSError) as e:
            await b.stop_daemon(STATE_MASTER)
        assert e.value.errno == errno.ESRCH and e.value.message == "No daemon is running"
        await b.start_daemon(SyncDaemon(STATE_MASTER, "eth0", 5))
        with pytest.raises(IPVSError) as e:
            await b.start_daemon(SyncDaemon(STATE_MASTER, "lo", 6))
        assert e.value.errno == errno.EEXIST and e.value.message == "Daemon has already run"
        with pytest.raises(IPVSError) as e:
            await b.start_daemon(SyncDaemon(STATE_BACKUP, "nosuch", 6))
        assert e.value.errno == errno.ENODEV
        with pytest.raises(IPVSError) as e:
            await b.start_daemon(SyncDaemon(STATE_BACKUP, "lo", 6, mcast_group="10.0.0.1"))
        assert e.value.errno == errno.EINVAL
        await b.start_daemon(SyncDaemon(STATE_BACKUP, "lo", 6, sync_maxlen=10))
        assert await b.list_daemons() == [
            SyncDaemon(STATE_MASTER, "eth0", 5, 1472, "224.0.0.81", 8848, 1),  # maxlen = MTU - IP - UDP
            SyncDaemon(STATE_BACKUP, "lo", 6, 1024, "224.0.0.81", 8848, 1),  # a backup takes at least 1024
        ]
        await b.stop_daemon(STATE_MASTER)
        assert [d.state for d in await b.list_daemons()] == [STATE_BACKUP]

    asyncio.run(go())


def test_pyipvsadm_daemon_options_and_listing() -> None:
    b = MemoryBackend()
    assert pyipvsadm(b, "--start-daemon", "backup", "--mcast-interface", "eth1", "--syncid", "9", "--mcast-group",
                     "239.1.2.3", "--mcast-port", "9000", "--mcast-ttl", "3")[0] == 0
    assert pyipvsadm(b, "--start-daemon", "master", "--mcast-interface", "eth1")[0] == 0
    assert pyipvsadm(b, "-L", "--daemon")[1] == (
        "master sync daemon (mcast=eth1, syncid=0, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
        "backup sync daemon (mcast=eth1, syncid=9, maxlen=1472, group=239.1.2.3, port=9000, ttl=3)\n")
    rc, _, err = pyipvsadm(b, "--start-daemon", "master", "--mcast-interface", "eth1")
    assert (rc, err) == (255, "Daemon has already run\n")
    assert pyipvsadm(b, "--stop-daemon", "master")[0] == 0
    assert pyipvsadm(b, "--stop-daemon", "master")[:3:2] == (255, "No daemon is running\n")
    # bad command lines are refused before anything is done, naming the option
    for argv, word in ((("--start-daemon", "master"), "--mcast-interface"),
                       (("--start-daemon", "leader", "--mcast-interface", "eth1"), "--start-daemon"),
                       (("--start-daemon", "master", "--mcast-interface", "eth1", "--syncid", "256"), "--syncid"),
                       (("--start-daemon", "master", "--mcast-interface", "eth1", "--mcast-group", "10.1.1.1"),
                        "multicast")):
        rc, _, err = pyipvsadm(b, *argv)
        assert rc == 2 and word in err, (argv, err)
    assert format_daemons(asyncio.run(b.list_daemons())).startswith("backup sync daemon (mcast=eth1, syncid=9")


def test_proc_connections_are_read_and_printed_as_ipvsadm_does() -> None:
    conns = parse_proc_connections(PROC)
    assert [(c.caddr, c.cport, c.daddr, c.state, c.expires) for c in conns] == [
        ("10.1.0.2", 0x99C8, "10.2.1.2", "ESTABLISHED", 899),
        ("fd00::2", 8080, "fd00::1:2", "UDP", 61),
        ("10.1.0.2", 0x99C9, "10.2.1.2", "ESTABLISHED", 59),
    ]
    assert conns[1].af == AF_INET6 and conns[2].pe_name == "sip" and conns[2].pe_data == "1234@host"
    assert format_connections(conns) == (
        "IPVS connection entries\n"
        "pro expire state       source             virtual            destination\n"
        "TCP 14:59  ESTABLISHED 10.1.0.2:39368     10.1.0.100:80      10.2.1.2:80\n"
        "UDP 01:01  UDP         [fd00::2]:8080     [fd00::64]:53      [fd00::1:2]:53\n"
        "TCP 00:59  ESTABLISHED 10.1.0.2:39369     10.1.0.100:5060    10.2.1.2:5060\n")
    persistent = format_connections(conns, persistent_conn=True).splitlines()
    assert persistent[1].endswith("destination        pe name          pe_data")
    assert persistent[4] == ("TCP 00:59  ESTABLISHED 10.1.0.2:39369     10.1.0.100:5060    10.2.1.2:5060    "
                             "sip                1234@host")
    b = MemoryBackend()
    b.connections = conns
    assert pyipvsadm(b, "-Lnc")[1] == format_connections(conns)
