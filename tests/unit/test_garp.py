"""vrrp.io.garp frame builders and schedule, byte for byte (no sockets).

The lab tier (tests/lab/test_wire_garp.py) proves the kernel accepts these frames; here we pin the exact
bytes against hand-assembled references and check the builders/parsers agree over arbitrary inputs.
"""

from __future__ import annotations

import ipaddress
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vrrp.io.garp import (
    AnnouncementSchedule,
    announcement_frame,
    build_garp,
    build_unsolicited_na,
    icmpv6_checksum,
    ipv6_forwarding,
    mac_bytes,
    mac_str,
    parse_arp,
    parse_na,
    solicited_node_group,
)

MAC = "00:00:5e:00:01:07"


def test_garp_bytes_match_keepalived_layout() -> None:
    frame = build_garp(ipaddress.IPv4Address("10.0.0.100"), MAC)
    expected = bytes.fromhex(
        "ffffffffffff"
        "00005e000107"
        "0806"  # Ethernet: broadcast, from the announced MAC, ARP
        "0001"
        "0800"
        "06"
        "04"
        "0001"  # Ethernet/IPv4, request
        "00005e000107"
        "0a000064"  # sender = announced MAC, VIP
        "ffffffffffff"
        "0a000064"  # target MAC broadcast (as keepalived), target = VIP
    )
    assert frame == expected


def test_unsolicited_na_fields() -> None:
    vip = ipaddress.IPv6Address("fd00::100")
    frame = build_unsolicited_na(vip, MAC)
    assert len(frame) == 14 + 40 + 32
    assert frame[:6] == bytes.fromhex("333300000001") and frame[6:12] == mac_bytes(MAC)
    assert frame[12:14] == b"\x86\xdd"
    ip6 = frame[14:54]
    assert ip6[0] >> 4 == 6
    assert struct.unpack("!H", ip6[4:6])[0] == 32  # payload length
    assert ip6[6] == 58 and ip6[7] == 255  # ICMPv6, hop limit 255 (RFC 4861 §7.1.2)
    assert ipaddress.IPv6Address(ip6[8:24]) == vip  # source = the VIP, as keepalived
    assert ipaddress.IPv6Address(ip6[24:40]) == ipaddress.IPv6Address("ff02::1")
    icmp = frame[54:]
    assert icmp[0] == 136 and icmp[1] == 0
    assert icmp[4] == 0xA0 and icmp[5:8] == b"\0\0\0"  # R=1 S=0 O=1 (RFC 9568 §6.4.2)
    assert ipaddress.IPv6Address(icmp[8:24]) == vip
    assert icmp[24:26] == b"\x02\x01" and icmp[26:32] == mac_bytes(MAC)  # target link-layer address option


def test_na_checksum_sums_to_all_ones() -> None:
    """The RFC 1071 receive check: the ones-complement sum over pseudo-header + message is 0xffff."""
    vip = ipaddress.IPv6Address("2001:db8::1")
    frame = build_unsolicited_na(vip, MAC)
    icmp = frame[54:]
    data = vip.packed + ipaddress.IPv6Address("ff02::1").packed + struct.pack("!I3xB", len(icmp), 58) + icmp
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF
    corrupted = frame[:-1] + bytes([frame[-1] ^ 1])
    parsed = parse_na(corrupted)
    assert parsed is not None and not parsed.checksum_ok


def test_known_icmpv6_checksum_vector() -> None:
    # echo request "fe80::1 -> fe80::2", id 1 seq 1, no data; sum computed by hand:
    # pseudo: fe80+0001+fe80+0002+0008+003a = 0x1fd45 -> 0xfd46 ; msg: 8000+0001+0001 = 0x8002
    # 0xfd46 + 0x8002 = 0x17d48 -> 0x7d49 ; checksum = ~0x7d49 = 0x82b6
    src, dst = ipaddress.IPv6Address("fe80::1"), ipaddress.IPv6Address("fe80::2")
    assert icmpv6_checksum(src, dst, bytes.fromhex("8000000000010001")) == 0x82B6


def test_solicited_node_group() -> None:
    assert solicited_node_group(ipaddress.IPv6Address("fd77::1:2345:6789")) == ipaddress.IPv6Address(
        "ff02::1:ff45:6789"
    )


def test_announcement_frame_picks_by_family() -> None:
    assert parse_arp(announcement_frame(ipaddress.ip_address("192.0.2.1"), MAC)) is not None
    assert parse_na(announcement_frame(ipaddress.ip_address("2001:db8::7"), MAC)) is not None


@pytest.mark.parametrize("router", [False, True])
def test_na_router_flag_is_the_flag_asked_for(router: bool) -> None:
    """keepalived sets R from the interface's IPv6 forwarding; the builder carries exactly what it is given."""
    frame = announcement_frame(ipaddress.ip_address("2001:db8::7"), MAC, router=router)
    assert frame[54 + 4] == (0xA0 if router else 0x20)  # R? S=0 O=1
    parsed = parse_na(frame)
    assert parsed is not None and parsed.checksum_ok and parsed.router is router


@pytest.mark.parametrize(("content", "want"), [("0\n", False), ("1\n", True), ("2\n", True), (None, False)])
def test_ipv6_forwarding_reads_the_interface_setting(tmp_path: Path, content: str | None, want: bool) -> None:
    """/proc/sys/net/ipv6/conf/IF/forwarding: 0 is a host, anything else forwards; no file (no IPv6) is a host."""
    if content is not None:
        (tmp_path / "eth0").mkdir()
        (tmp_path / "eth0" / "forwarding").write_text(content)
    assert ipv6_forwarding("eth0", proc=tmp_path) is want


@pytest.mark.parametrize("bad", ["00:00:5e:00:01", "zz:00:5e:00:01:01", "00:00:5e:00:01:0100", ""])
def test_bad_mac_is_a_clear_error(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a MAC address"):
        mac_bytes(bad)


def test_parsers_reject_other_frames() -> None:
    garp = build_garp(ipaddress.IPv4Address("10.0.0.1"), MAC)
    na = build_unsolicited_na(ipaddress.IPv6Address("fd00::1"), MAC)
    assert parse_na(garp) is None and parse_arp(na) is None
    assert parse_arp(garp[:30]) is None and parse_na(na[:60]) is None


macs = st.binary(min_size=6, max_size=6)


@settings(deadline=None)  # CI machines are shared: no per-example wall-clock limit
@given(st.integers(0, 2**32 - 1), macs)
def test_garp_roundtrip(raw: int, mac: bytes) -> None:
    vip = ipaddress.IPv4Address(raw)
    parsed = parse_arp(build_garp(vip, mac))
    assert parsed is not None and parsed.gratuitous and parsed.op == 1
    assert (parsed.sender_ip, parsed.sender_mac, parsed.eth_src) == (vip, mac, mac)
    assert mac_bytes(mac_str(mac)) == mac


@settings(deadline=None)
@given(st.integers(0, 2**128 - 1), macs, st.booleans())
def test_na_roundtrip(raw: int, mac: bytes, router: bool) -> None:
    vip = ipaddress.IPv6Address(raw)
    parsed = parse_na(build_unsolicited_na(vip, mac, router=router))
    assert parsed is not None and parsed.checksum_ok
    assert (parsed.target, parsed.target_mac, parsed.src, parsed.hop_limit) == (vip, mac, vip, 255)
    assert (parsed.router, parsed.solicited, parsed.override) == (router, False, True)


def test_schedule_defaults_are_keepalived_defaults() -> None:
    sched = AnnouncementSchedule()
    assert sched.on_master(100.0) == [100.0] * 5 + [105.0] * 5
    assert sched.next_refresh(100.0) == []


def test_schedule_interval_delay_and_refresh() -> None:
    sched = AnnouncementSchedule(repeat=3, delay=0, interval=0.5, refresh=60, refresh_repeat=2)
    assert sched.on_master(10.0) == [10.0, 10.5, 11.0]  # delay 0: no second burst
    assert sched.next_refresh(10.0) == [70.0, 70.5]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"repeat": 0}, "repeat must be at least 1"), ({"delay": -1}, "delay must not be negative")],
)
def test_schedule_rejects_bad_values(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        AnnouncementSchedule(**kwargs)  # type: ignore[arg-type]



def test_each_vip_is_announced_on_the_interface_it_lives_on(tmp_path: Path) -> None:
    """keepalived announces a VIP on its own ``dev`` (a gateway VIP on the back LAN must reach the real servers);
    the instance's interface keeps the instance's (virtual) MAC, another interface its own MAC."""
    from types import SimpleNamespace
    from typing import Any

    from pykeepalived.config import load_config
    from pykeepalived.daemon.settings import build_settings
    from vrrp.core.state import State
    from vrrp.io.driver import Instance, VrrpDaemon

    conf = tmp_path / "keepalived.conf"
    conf.write_text("vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 100\n"
                    " virtual_ipaddress {\n  10.5.0.100/32\n  10.6.0.1/24 dev eth1\n }\n}\n")
    settings = build_settings(load_config(str(conf)).config)
    daemon = VrrpDaemon(settings, dump_dir=tmp_path)
    sent: list[tuple[str, str, bytes]] = []

    class Sender:
        def __init__(self, ifname: str, mac: bytes) -> None:
            self.ifname = ifname
            self.sock = SimpleNamespace(getsockname=lambda: (ifname, 0, 0, 1, mac))

        def announce(self, ip: object, mac: bytes) -> None:
            sent.append((self.ifname, str(ip), mac))

    vmac = b"\x00\x00\x5e\x00\x01\x33"
    router: Any = SimpleNamespace(state=State.BACKUP)
    eth0: Any = Sender("eth0", b"\x02" * 6)
    fake: Any = SimpleNamespace()
    inst = Instance(settings.instances[0], router, fake, fake, ipaddress.IPv4Address("10.5.0.11"), vmac,
                    announcer=eth0)
    eth1: Any = Sender("eth1", b"\x0e" * 6)
    daemon._announcers["eth1"] = eth1
    vip, gateway = ipaddress.IPv4Address("10.5.0.100"), ipaddress.IPv4Address("10.6.0.1")
    daemon._garp_round(inst, (vip, gateway))
    assert sent == []  # not MASTER: nothing
    router.state = State.MASTER
    daemon._garp_round(inst, (vip, gateway))
    assert sent == [("eth0", "10.5.0.100", vmac), ("eth1", "10.6.0.1", b"\x0e" * 6)]
