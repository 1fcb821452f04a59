"""The conformance checklist: RFC 9568's requirements as items 1-63 (each with its section) and RFC 3768's
VRRPv2 differences.

This is the single list the table generator (``table.py``) walks.  Tests refer to items by ``id`` with
``@pytest.mark.conformance("<id>", polarity="positive"|"negative")`` (see README.md).  An item nobody can show
with the codec or the sans-IO core carries ``na="why"``; an item that should be tested but is not yet carries
``gap="why / who covers it"``.  Once tests of both polarities exist the row is "covered" whatever the note
says.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One checklist row: ``id`` as used in markers, RFC section, requirement level and a one-line title."""

    id: str
    section: str
    level: str
    title: str
    na: str = ""
    gap: str = ""


_CODEC = "CODEC: codec test (tests/conformance/test_codec_*.py) missing"
_ROUTER = "ROUTER: sans-IO virtual router test (tests/conformance/test_router_*.py) not written yet"
_LAB = "wire-only: needs real IP headers / link layer; to be shown by a lab-tier test"
_LAB_ARP = "link-layer behaviour of the I/O shell (ARP/ND/vMAC on real links); to be shown by a lab-tier test"

ITEMS: tuple[Item, ...] = (
    # 1.A IP header
    Item("1", "5.1.1.1, 7.2", "MUST", "IPv4 source = primary IPv4 address of the interface", na=_LAB),
    Item("2", "5.1.1.2", "MUST NOT", "IPv4 destination 224.0.0.18, never forwarded", na=_LAB),
    Item("3", "5.1.1.3", "MUST", "IPv4 TTL 255 on transmit", na=_LAB),
    Item("4", "5.1.1.3, 7.1", "MUST", "received IPv4 TTL != 255 discarded", gap=_ROUTER),
    Item("5", "5.1.1.4, 7.2", "MUST", "IPv4 protocol 112", na=_LAB),
    Item("6", "5.1.2.1, 7.2", "MUST", "IPv6 source = link-local address of the interface", na=_LAB),
    Item("7", "5.1.2.2", "MUST NOT", "IPv6 destination ff02::12, never forwarded", na=_LAB),
    Item("8", "5.1.2.3", "MUST", "IPv6 Hop Limit 255 on transmit; != 255 discarded", gap=_ROUTER),
    Item("9", "5.1.2.4", "MUST", "IPv6 Next Header 112", na=_LAB),
    # 1.B packet format
    Item("10", "5.2.1", "-", "Version field = 3", gap=_CODEC),
    Item("11", "5.2.2", "MUST", "Type 1 (ADVERTISEMENT); unknown type discarded", gap=_CODEC),
    Item("12", "5.2.3", "-", "VRID 1-255, no default", gap=_CODEC),
    Item("13", "5.2.4", "MUST", "address owner's priority is 255", gap=_ROUTER),
    Item("14", "5.2.4", "MUST", "Backup priorities 1-254, default 100", gap=_ROUTER),
    Item("15", "5.2.4", "-", "priority 0 = Master stopped participating (fast takeover)", gap=_ROUTER),
    Item(
        "16",
        "5.2.5",
        "MUST",
        "Count IPvX Addr >= 1; a received Count 0 is ignored (erratum 8299)",
        gap=_CODEC,
    ),
    Item("17", "5.2.6", "MUST", "Rsvd zero on transmit, ignored on receive", gap=_CODEC),
    Item(
        "18",
        "5.2.7",
        "MUST",
        "Max Adver Int: 12 bits of centiseconds, 1-4095, non-zero (erratum 8301)",
        gap=_CODEC,
    ),
    Item(
        "19",
        "5.2.8, 7.1",
        "MUST",
        "checksum: v3 IPv4 without (9568) / with (5798) pseudo-header, IPv6 with",
        gap=_CODEC,
    ),
    Item("20", "5.2.9", "MUST NOT", "addresses all IPv4 or all IPv6, never mixed", gap=_CODEC),
    Item("21", "5.2.9, 6.1", "MUST", "IPv6: first address is the link-local address (erratum 8300)", gap=_CODEC),
    # 1.C receive validation
    Item("22", "7.1", "MUST", "discard on TTL / Hop Limit != 255", gap=_ROUTER),
    Item("23", "7.1", "MUST", "discard on version other than the configured one", gap=_CODEC),
    Item(
        "24",
        "7.1",
        "MUST",
        "discard unless the complete packet is there (Ethernet padding allowed)",
        gap=_CODEC,
    ),
    Item("25", "7.1", "MUST", "discard on checksum failure", gap=_CODEC),
    Item(
        "26",
        "7.1",
        "MUST",
        "discard unless the VRID is configured; owner check (SHOULD log, erratum 8298)",
        gap=_ROUTER,
    ),
    Item("27", "7.1", "MUST", "a discard is a no-op for the state machine", gap=_ROUTER),
    Item(
        "28",
        "7.1",
        "MAY/SHOULD",
        "MAY verify Count and address list against the configuration (v3: log)",
        gap=_ROUTER,
    ),
    Item("29", "7.1 (9568)", "MUST", "discard unless Type = 1 and Max Adver Int != 0", gap=_CODEC),
    # 1.D parameters and timers
    Item(
        "30",
        "6.1",
        "-",
        "per-router parameters and defaults (priority 100, interval 100 cs, preempt on, accept off)",
        gap=_ROUTER,
    ),
    Item(
        "31",
        "6.1",
        "-",
        "Skew_Time = ((256-P)*MAI)/256; Master_Down_Interval = 3*MAI + Skew_Time",
        gap=_ROUTER,
    ),
    Item("32", "6.2", "-", "timers: Master_Down_Timer (Backup), Adver_Timer (Master)", gap=_ROUTER),
    Item("33", "6.1, 6.4.3", "MUST NOT", "NS/NA not dropped when Accept_Mode is False", na=_LAB_ARP),
    # 1.E state machine: Backup
    Item("34", "6.4.2", "MUST NOT", "Backup does not answer ARP for the VIPs", gap=_ROUTER),
    Item("35", "6.4.2", "MUST NOT", "Backup does not answer ND for the VIPs, sends no RA", gap=_ROUTER),
    Item("36", "6.4.2", "MUST", "Backup discards frames to the virtual MAC", na=_LAB_ARP),
    Item("37", "6.4.2", "MUST NOT", "Backup does not accept packets addressed to the VIPs", gap=_ROUTER),
    Item("38", "6.4.2", "MUST", "Backup: Shutdown cancels Master_Down_Timer, goes to Initialize", gap=_ROUTER),
    Item(
        "39",
        "6.4.2",
        "MUST",
        "Master_Down_Timer fires: advert, GARP / unsolicited NA, Adver_Timer, Master",
        gap=_ROUTER,
    ),
    Item("40", "6.4.2", "MUST", "Backup receives priority 0: Master_Down_Timer = Skew_Time", gap=_ROUTER),
    Item(
        "41",
        "6.4.2",
        "MUST",
        "preempt off or priority >= local: learn interval, reset Master_Down_Timer",
        gap=_ROUTER,
    ),
    Item("42", "6.4.2", "MUST", "preempt on and priority < local: discard (timer keeps running)", gap=_ROUTER),
    # 1.E state machine: Master
    Item("43", "6.4.3, 8.1.2", "MUST", "Master answers ARP for the VIPs with the virtual MAC", na=_LAB_ARP),
    Item("44", "6.4.3", "MUST", "IPv6 Master joins solicited-node groups, answers NS, sends RAs", na=_LAB_ARP),
    Item("45", "6.4.3", "MUST", "Master forwards frames to the virtual MAC", na=_LAB_ARP),
    Item(
        "46",
        "6.4.3",
        "MUST/MUST NOT",
        "Accept_Mode: accept VIP traffic only if owner or accept on",
        gap=_ROUTER,
    ),
    Item("47", "6.4.3", "MUST", "Master Shutdown: cancel Adver_Timer, send priority 0, Initialize", gap=_ROUTER),
    Item("48", "6.4.3", "MUST", "Adver_Timer fires: send advert, reset Adver_Timer", gap=_ROUTER),
    Item("49", "6.4.3", "MUST", "Master receives priority 0: advertise immediately", gap=_ROUTER),
    Item("50", "6.4.3", "MUST", "higher priority, or equal and larger primary address: go Backup", gap=_ROUTER),
    Item("51", "6.4.3", "MUST", "otherwise discard; RFC 9568: and advertise immediately", gap=_ROUTER),
    # 1.F transmit, virtual MAC
    Item("52", "7.2", "MUST", "transmit: fields from state, checksum, source MAC = virtual MAC", na=_LAB),
    Item(
        "53",
        "7.3",
        "-",
        "virtual MAC 00-00-5E-00-01-{VRID} (IPv4) / 00-00-5E-00-02-{VRID} (IPv6)",
        gap=_ROUTER,
    ),
    Item("54", "7.4", "MUST NOT", "no EUI-64 interface identifiers from the virtual MAC", na=_LAB_ARP),
    # 1.G operational
    Item(
        "55",
        "8.1.1, 8.2.1",
        "should",
        "ICMP redirects from the next-hop address",
        na="kernel forwarding behaviour; the daemon sends no redirects (keepalived neither)",
    ),
    Item("56", "8.1.2, 8.2.2", "MUST NOT", "Master never answers ARP/ND with its physical MAC", na=_LAB_ARP),
    Item("57", "8.1.2, 8.2.2", "SHOULD NOT", "no physical-MAC ARP/ND for an owned address at boot", na=_LAB_ARP),
    Item(
        "58",
        "8.1.3",
        "must",
        "proxy ARP advertises the virtual MAC",
        na="proxy ARP is kernel configuration, not something the daemon does",
    ),
    Item("59", "8.2.2", "MUST", "NS sent by the Master carries the virtual MAC", na=_LAB_ARP),
    Item(
        "60",
        "8.2.3",
        "must",
        "Backups send the same RA options as the owner",
        na="the daemon sends no router advertisements (keepalived neither); configuration advice",
    ),
    Item(
        "61",
        "8.3.1",
        "SHOULD NOT",
        "non-owner Master does not forward packets to the VIP",
        na="kernel forwarding behaviour (accept mode / nftables), shown in the lab if at all",
    ),
    Item(
        "62",
        "8.3.2",
        "should",
        "at most one owner (priority 255) per VRID on a link",
        na="operator configuration advice; nothing for the codec or core to enforce",
    ),
    Item(
        "63",
        "8.4.2, 8.4.3",
        "MAY/MUST/SHOULD",
        "v2/v3 interop mode (send both, time out on the Master's rate)",
        gap="ROUTER: a v2/v3 dual-send mode (RFC 9568 §8.4) is not planned yet",
    ),
    # §2 VRRPv2 (RFC 3768) differences
    Item("v2-families", "3768 §5", "MUST", "VRRPv2 is IPv4 only", gap=_CODEC),
    Item(
        "v2-format",
        "3768 §5.3",
        "MUST",
        "v2 header: Auth Type, Adver Int (s) and 8 bytes of Authentication Data",
        gap=_CODEC,
    ),
    Item(
        "v2-auth-data",
        "3768 §5.3.10",
        "SHOULD",
        "Authentication Data zero on transmit, ignored on receive (without auth)",
        gap=_CODEC,
    ),
    Item(
        "v2-advert-int",
        "3768 §5.3.7",
        "-",
        "Adver Int in whole seconds, 1-255 on the wire, default 1",
        gap=_CODEC,
    ),
    Item(
        "v2-checksum",
        "3768 §5.3.8",
        "MUST",
        "v2 checksum over the message incl. auth data, no pseudo-header",
        gap=_CODEC,
    ),
    Item(
        "v2-auth",
        "3768 §5.3.6, 7.1",
        "MUST",
        "discard unknown Auth Type or one not matching the local method",
        gap=_CODEC,
    ),
    Item(
        "v2-pass",
        "keepalived",
        "-",
        "keepalived auth_type PASS: first 8 bytes, constant-time compare",
        gap=_CODEC,
    ),
    Item(
        "v2-ah",
        "keepalived / 2338",
        "-",
        "keepalived auth_type AH (IPsec AH, HMAC-MD5-96)",
        gap="not implemented: keepalived-only, discouraged by its man page; PASS covers the interop need",
    ),
    Item(
        "v2-skew",
        "3768 §6.1",
        "-",
        "Skew_Time = (256-P)/256 seconds, independent of the interval",
        gap=_ROUTER,
    ),
    Item("v2-mdi", "3768 §6.1", "-", "Master_Down_Interval = 3*local Adver Int + Skew_Time", gap=_ROUTER),
    Item(
        "v2-interval",
        "3768 §7.1",
        "MUST",
        "discard an advert whose Adver Int differs from the local one",
        gap=_ROUTER,
    ),
    Item(
        "v2-addrlist",
        "3768 §7.1",
        "MUST",
        "address list mismatch from a non-owner sender: discard",
        gap=_ROUTER,
    ),
    Item("v2-owner", "3768 §7.1", "MUST", "verify the local router is not the address owner", gap=_ROUTER),
    Item(
        "v2-accept",
        "3768 §6.4.3",
        "MUST NOT",
        "no Accept_Mode in v2: only the owner accepts VIP traffic",
        gap=_ROUTER,
    ),
)

BY_ID: dict[str, Item] = {item.id: item for item in ITEMS}
