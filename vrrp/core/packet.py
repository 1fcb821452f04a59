"""VRRP advertisement codec: VRRPv2 (RFC 3768, IPv4) and VRRPv3 (RFC 9568 / RFC 5798, IPv4 and IPv6).

The codec handles the VRRP message only (what follows the IP header).  It checks everything that can be
checked from the bytes and the IP addresses alone.  Checks that need configuration (VRID configured, TTL,
authentication match, the v2 interval match, address list match) belong to the virtual router, which counts
them with the same :class:`Reason` values, so every discard is counted in one vocabulary (the RFC 6527 and
RFC 2787 MIB counters).

Wire layouts (all big-endian)::

    v3: Version(4)|Type(4) VRID(8) Priority(8) Count(8) | Rsvd(4)|MaxAdverInt(12) Checksum(16)
        | Count IPv4 or IPv6 addresses
    v2: Version(4)|Type(4) VRID(8) Priority(8) Count(8) | AuthType(8) AdverInt(8) Checksum(16)
        | Count IPv4 addresses | Authentication Data (8 bytes)

Checksums (the part RFC 9568 changed, RFC 9568 §5.2.8 and docs/conformance.md item 19):

* v2: over the VRRP message (auth data included), no pseudo-header;
* v3 IPv6: over the message plus the RFC 8200 pseudo-header;
* v3 IPv4: RFC 9568 says no pseudo-header (``"rfc9568"``, keepalived's ``v3_checksum_as_v2``); RFC 5798,
  keepalived and FRR by default include the IPv4 pseudo-header (``"rfc5798"``).  The sender's form is
  configurable; the receiver accepts both and reports the one that verified in
  :attr:`Advertisement.checksum_form`.

``family`` may be ``socket.AF_INET`` / ``socket.AF_INET6`` or, for convenience, ``4`` / ``6``.  ``src`` and
``dst`` (the packet's IP source and destination, needed only for pseudo-headers) may be ``ipaddress``
objects, strings or packed bytes.

Decoding arbitrary bytes raises nothing but :class:`PacketError`.  Wrong *arguments* (an unknown family, a
source address of the other family) are programming errors and raise ``ValueError`` / ``TypeError``.
"""

from __future__ import annotations

import enum
import socket
import struct
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Final, Literal

from vrrp.core.checksum import finish, pseudo_sum, verifies

__all__ = [
    "AUTH_AH",
    "AUTH_NONE",
    "AUTH_PASS",
    "CHECKSUM_RFC5798",
    "CHECKSUM_RFC9568",
    "HEADER_LEN",
    "MULTICAST_V4",
    "MULTICAST_V6",
    "TYPE_ADVERTISEMENT",
    "VRIDS",
    "Address",
    "Advertisement",
    "ChecksumForm",
    "PacketError",
    "Reason",
    "check_v2_auth",
    "decode",
    "encode",
    "message_length",
    "pass_auth_data",
]

Address = IPv4Address | IPv6Address
ChecksumForm = Literal["rfc9568", "rfc5798"]
#: v3 IPv4 checksum over the VRRP message only (RFC 9568 §5.2.8; keepalived ``v3_checksum_as_v2``).
CHECKSUM_RFC9568: Final = "rfc9568"
#: v3 IPv4 checksum including the IPv4 pseudo-header (RFC 5798; keepalived's and FRR's default).
CHECKSUM_RFC5798: Final = "rfc5798"

TYPE_ADVERTISEMENT: Final = 1
#: VRRPv2 Auth Type values as keepalived uses them (RFC 2338; RFC 3768 keeps only the field).
AUTH_NONE: Final = 0
AUTH_PASS: Final = 1
AUTH_AH: Final = 2
AUTH_DATA_LEN: Final = 8

#: The valid Virtual Router IDs (RFC 9568 §5.2.3): one rule for the encoder, the decoder and the configuration.
VRIDS: Final = range(1, 256)

MULTICAST_V4: Final = IPv4Address("224.0.0.18")
MULTICAST_V6: Final = IPv6Address("ff02::12")

#: Smallest Ethernet payload (60-byte frame minus the 14-byte header): a shorter IP packet is padded up to
#: it, and a receiver that slices the VRRP message out of a frame sees the padding as trailing bytes.
ETH_MIN_PAYLOAD: Final = 46
_IPV4_HEADER_LEN: Final = 20

# vers/type, vrid, prio, count, (v2 auth type | v3 rsvd + interval high bits), interval low bits, checksum
_HEADER = struct.Struct("!BBBBBBH")
#: The fixed VRRP header (RFC 9568 §5.1, RFC 3768 §5.1): a shorter message cannot be trusted to name its VRID.
HEADER_LEN: Final = 8
_HEADER_LEN: Final = HEADER_LEN


class Reason(enum.StrEnum):
    """Why an advertisement was discarded — one value per RFC 6527 (VRRPv3-MIB) / RFC 2787 (VRRP-MIB) counter.

    The codec raises the first group itself; the rest need configuration and are raised by the virtual router,
    which keeps the per-reason counters.  The value is the stable name used in counters, logs and JSON.
    """

    # --- detected by the codec ---
    LENGTH = "length"  # vrrpv3StatisticsPacketLengthErrors: not header + Count addresses (+ padding)
    VERSION = "version"  # vrrpv3RouterVersionErrors: not 2/3, v2 over IPv6, or not the configured one
    CHECKSUM = "checksum"  # vrrpv3RouterChecksumErrors: no accepted checksum form verifies
    TYPE = "type"  # vrrpv3StatisticsRcvdInvalidTypePackets: Type != 1 (ADVERTISEMENT)
    ADDRESS_LIST = "address_list"  # vrrpv3StatisticsAddressListErrors: Count 0 (erratum 8299), list mismatch
    INTERVAL = "interval"  # vrrpv3StatisticsAdvIntervalErrors: 0 (erratum 8301), v2 interval mismatch
    AUTH_TYPE = "auth_type"  # vrrpStatsInvalidAuthType (RFC 2787): v2 Auth Type not 0/1/2
    # --- detected by the virtual router (need configuration or the IP header) ---
    TTL = "ttl"  # vrrpv3StatisticsIpTtlErrors: TTL / Hop Limit != 255
    VRID = "vrid"  # vrrpv3RouterVrIdErrors: no virtual router with this VRID (the codec refuses VRID 0 itself)
    AUTH_TYPE_MISMATCH = "auth_type_mismatch"  # vrrpStatsAuthTypeMismatch (RFC 2787): not the configured type
    AUTH = "auth"  # vrrpStatsAuthFailures (RFC 2787): PASS data does not match
    OWNER = "owner"  # RFC 3768 §7.1 (MUST) / RFC 9568 erratum 8298 (SHOULD log): we own the addresses
    UNICAST_PEER = "unicast_peer"  # keepalived: source is not a configured unicast peer (no MIB counter)


class PacketError(Exception):
    """An advertisement was rejected: ``reason`` names its counter, ``detail`` says what was seen."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Advertisement:
    """One VRRP ADVERTISEMENT, version-neutral.

    ``interval_cs`` is the advertisement interval in centiseconds for both versions (v2 carries whole
    seconds: the wire value times 100), so timer code never branches on the version.  ``auth_type`` and
    ``auth_data`` exist on the wire only in v2 (decoded v2 always has 8 bytes of auth data; v3 has ``b""``).
    ``checksum_form`` and ``checksum`` describe the wire and are excluded from equality, so
    ``decode(encode(a)) == a``.  Not hashable (``addresses`` is a list, as the contract says).
    """

    version: int
    vrid: int
    priority: int
    addresses: list[Address]
    interval_cs: int
    type: int = TYPE_ADVERTISEMENT
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    #: Which v3 IPv4 checksum form verified on receive (None for v2 and IPv6, whose form is fixed).
    checksum_form: ChecksumForm | None = field(default=None, compare=False)
    #: The checksum field as received (0 for an advertisement built in code).
    checksum: int = field(default=0, compare=False)


_new_object = object.__new__
_set_attr = object.__setattr__
_ADDRESS_CACHE: dict[bytes, Address] = {}
_ADDRESS_CACHE_MAX = 4096


def _address(packed: bytes, cls: type[IPv4Address] | type[IPv6Address]) -> Address:
    """The ipaddress object for ``packed``, memoised: a LAN carries few distinct VIPs, and building an
    IPv4Address from bytes costs more than the rest of a decode's field checks.  Bounded by clearing."""
    addr = _ADDRESS_CACHE.get(packed)
    if addr is None:
        if len(_ADDRESS_CACHE) >= _ADDRESS_CACHE_MAX:
            _ADDRESS_CACHE.clear()
        addr = _ADDRESS_CACHE[packed] = cls(packed)
    return addr


def pass_auth_data(password: str | bytes) -> bytes:
    """The 8 bytes keepalived puts on the wire for ``auth_type PASS``: the first 8 bytes, zero-padded."""
    raw = password.encode() if isinstance(password, str) else password
    return raw[:AUTH_DATA_LEN].ljust(AUTH_DATA_LEN, b"\x00")


def _family_width(family: int) -> int:
    """Address width in bytes for ``family`` (AF_INET/AF_INET6, or 4/6)."""
    if family == socket.AF_INET or family == 4:
        return 4
    if family == socket.AF_INET6 or family == 6:
        return 16
    raise ValueError(f"family must be socket.AF_INET, socket.AF_INET6, 4 or 6, not {family!r}")


def _addr_int(value: object, width: int, what: str) -> int:
    """Integer value of an IP address given as an ipaddress object, str or packed bytes."""
    if isinstance(value, IPv4Address | IPv6Address):
        if (value.version == 4) != (width == 4):
            raise ValueError(f"{what} {value} is not an IPv{4 if width == 4 else 6} address")
        return int(value)
    if isinstance(value, bytes | bytearray):
        if len(value) != width:
            raise ValueError(f"{what} must be {width} packed bytes, got {len(value)}")
        return int.from_bytes(value, "big")
    if isinstance(value, str):
        addr = IPv4Address(value) if width == 4 else IPv6Address(value)
        return int(addr)
    raise TypeError(f"{what} must be an ipaddress object, str or bytes, not {type(value).__name__}")


def message_length(version: int, count: int, family: int) -> int:
    """Length in bytes of a VRRP message with ``count`` addresses (no padding, no IP header)."""
    width = _family_width(family)
    return _HEADER_LEN + count * width + (AUTH_DATA_LEN if version == 2 else 0)


def decode(
    data: bytes,
    *,
    family: int,
    src: object,
    dst: object,
    require_link_local_first: bool = False,
) -> Advertisement:
    """Decode one VRRP message (no IP header) received from ``src`` to ``dst``; raise :class:`PacketError`.

    Checks, in this order (the first failure names the reason):

    1. the 8-byte fixed header is there (LENGTH);
    2. version 2 or 3, and v2 only over IPv4 (VERSION);
    3. exactly header + Count addresses (+ v2 auth data); extra bytes only as the Ethernet padding of a
       minimum-size frame, i.e. while IP header + message stay within 46 bytes (LENGTH);
    4. checksum (CHECKSUM; v3 IPv4 accepts both forms and reports which one in ``checksum_form``);
    5. Type 1 (TYPE); 6. VRID in :data:`VRIDS`, i.e. not 0 (VRID: no virtual router can have it);
    7. Count != 0 (ADDRESS_LIST); 8. interval != 0 (INTERVAL); 9. v2 Auth Type 0, 1 or 2 (AUTH_TYPE).

    The checksum comes before field values so that a corrupted packet is counted as a checksum error.
    Reserved bits are ignored (item 17).  With ``require_link_local_first`` an IPv6 list whose first address
    is not link-local is rejected (RFC 9568 erratum 8300); it is off by default because keepalived does not
    put a link-local address first.
    """
    width = 4 if family == socket.AF_INET or family == 4 else _family_width(family)
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"data must be bytes, not {type(data).__name__}")
        data = bytes(data)
    n = len(data)
    if n < _HEADER_LEN:
        raise PacketError(Reason.LENGTH, f"{n} bytes is shorter than the 8-byte VRRP header")
    vt, vrid, priority, count, b4, b5, cksum = _HEADER.unpack_from(data)
    version = vt >> 4
    if version == 3:
        expected = _HEADER_LEN + count * width
    elif version == 2:
        if width != 4:
            raise PacketError(Reason.VERSION, "VRRPv2 advertisement received over IPv6 (v2 is IPv4 only)")
        expected = _HEADER_LEN + count * 4 + AUTH_DATA_LEN
    else:
        raise PacketError(Reason.VERSION, f"version {version} is neither 2 nor 3")
    if n != expected and (n < expected or n + (_IPV4_HEADER_LEN if width == 4 else 40) > ETH_MIN_PAYLOAD):
        raise PacketError(
            Reason.LENGTH,
            f"{n} bytes, but version {version} with Count {count} needs exactly {expected}",
        )
    msg = data if n == expected else data[:expected]
    total = int.from_bytes(msg, "big")
    form: ChecksumForm | None = None
    if version == 2:
        if total % 0xFFFF:
            raise PacketError(Reason.CHECKSUM, f"VRRPv2 checksum 0x{cksum:04x} does not verify")
    elif width == 4:
        if total % 0xFFFF == 0:
            form = CHECKSUM_RFC9568
        elif verifies(total + pseudo_sum(_addr_int(src, 4, "src"), _addr_int(dst, 4, "dst"), expected)):
            form = CHECKSUM_RFC5798
        else:
            raise PacketError(
                Reason.CHECKSUM,
                f"VRRPv3 IPv4 checksum 0x{cksum:04x} verifies neither without (RFC 9568) "
                "nor with (RFC 5798) the pseudo-header",
            )
    elif not verifies(total + pseudo_sum(_addr_int(src, 16, "src"), _addr_int(dst, 16, "dst"), expected)):
        raise PacketError(Reason.CHECKSUM, f"VRRPv3 IPv6 checksum 0x{cksum:04x} does not verify")
    if vt & 0x0F != TYPE_ADVERTISEMENT:
        raise PacketError(Reason.TYPE, f"type {vt & 0x0F} is not 1 (ADVERTISEMENT)")
    if vrid not in VRIDS:
        raise PacketError(Reason.VRID, f"VRID {vrid} is not 1-255 (RFC 9568 §5.2.3)")
    if count == 0:
        raise PacketError(Reason.ADDRESS_LIST, "Count IPvX Addr is 0 (RFC 9568 erratum 8299: ignore)")
    if version == 3:
        interval_cs = ((b4 & 0x0F) << 8) | b5
        if interval_cs == 0:
            raise PacketError(Reason.INTERVAL, "Max Adver Int is 0 (RFC 9568 erratum 8301)")
        auth_type = AUTH_NONE
        auth_data = b""
    else:
        if b5 == 0:
            raise PacketError(Reason.INTERVAL, "Adver Int is 0 seconds")
        interval_cs = b5 * 100
        auth_type = b4
        if auth_type > AUTH_AH:
            raise PacketError(Reason.AUTH_TYPE, f"Auth Type {auth_type} is not 0 (none), 1 (PASS) or 2 (AH)")
        auth_data = msg[expected - AUTH_DATA_LEN :]
    if width == 4:
        addresses = [_address(msg[i : i + 4], IPv4Address) for i in range(8, 8 + 4 * count, 4)]
    else:
        addresses = [_address(msg[i : i + 16], IPv6Address) for i in range(8, 8 + 16 * count, 16)]
        if require_link_local_first and not addresses[0].is_link_local:
            raise PacketError(
                Reason.ADDRESS_LIST, f"first IPv6 address {addresses[0]} is not link-local (erratum 8300)"
            )
    # Build the frozen dataclass without its __init__ (10 object.__setattr__ calls, ~1 us): decode runs on
    # every received packet.  The dict holds exactly the dataclass fields: the object is indistinguishable.
    adv = _new_object(Advertisement)
    _set_attr(
        adv,
        "__dict__",
        {
            "version": version,
            "vrid": vrid,
            "priority": priority,
            "addresses": addresses,
            "interval_cs": interval_cs,
            "type": TYPE_ADVERTISEMENT,
            "auth_type": auth_type,
            "auth_data": auth_data,
            "checksum_form": form,
            "checksum": cksum,
        },
    )
    return adv


def _validate(adv: Advertisement, width: int) -> None:
    """Refuse to build a packet the RFCs say must not be sent (ValueError naming the field)."""
    if adv.version not in (2, 3):
        raise ValueError(f"version must be 2 or 3, not {adv.version}")
    if adv.version == 2 and width != 4:
        raise ValueError("VRRPv2 is IPv4 only")
    if adv.vrid not in VRIDS:
        raise ValueError(f"vrid must be 1-255, not {adv.vrid}")
    if not 0 <= adv.priority <= 255:
        raise ValueError(f"priority must be 0-255, not {adv.priority}")
    if not 0 <= adv.type <= 15:
        raise ValueError(f"type must be 0-15, not {adv.type}")
    if not 1 <= len(adv.addresses) <= 255:
        raise ValueError(f"addresses must hold 1-255 addresses, not {len(adv.addresses)}")
    want = 4 if width == 4 else 6
    for a in adv.addresses:
        if not isinstance(a, IPv4Address | IPv6Address) or a.version != want:
            raise ValueError(f"address {a!r} is not an IPv{want} address (families never mix, item 20)")
    if adv.version == 3:
        if not 1 <= adv.interval_cs <= 4095:
            raise ValueError(f"interval_cs must be 1-4095 for VRRPv3, not {adv.interval_cs}")
    else:
        secs, rest = divmod(adv.interval_cs, 100)
        if rest or not 1 <= secs <= 255:
            raise ValueError(
                f"interval_cs must be a whole number of seconds 1-255 (100-25500) for VRRPv2, not {adv.interval_cs}"
            )
        if not 0 <= adv.auth_type <= 255:
            raise ValueError(f"auth_type must be 0-255, not {adv.auth_type}")
        if len(adv.auth_data) not in (0, AUTH_DATA_LEN):
            raise ValueError(f"auth_data must be 8 bytes (see pass_auth_data) or empty, not {len(adv.auth_data)}")


def encode(
    adv: Advertisement,
    *,
    family: int,
    src: object,
    dst: object,
    checksum_form: ChecksumForm | None = None,
) -> bytes:
    """Build the VRRP message for ``adv`` sent from ``src`` to ``dst``; the inverse of :func:`decode`.

    ``checksum_form`` matters only for v3 over IPv4: ``"rfc9568"`` (no pseudo-header, the RFC's rule) or
    ``"rfc5798"`` (with it, keepalived's default); ``None`` uses ``adv.checksum_form`` and else ``"rfc9568"``.
    Reserved bits are sent as zero (item 17).  Raises ``ValueError`` for an advertisement that must not be
    sent (VRID 0, interval out of range, mixed families, ...).
    """
    width = _family_width(family)
    _validate(adv, width)
    form = checksum_form if checksum_form is not None else (adv.checksum_form or CHECKSUM_RFC9568)
    if form not in (CHECKSUM_RFC9568, CHECKSUM_RFC5798):
        raise ValueError(f"checksum_form must be 'rfc9568' or 'rfc5798', not {form!r}")
    count = len(adv.addresses)
    if adv.version == 3:
        b4, b5 = adv.interval_cs >> 8, adv.interval_cs & 0xFF
        trailer = b""
    else:
        b4, b5 = adv.auth_type, adv.interval_cs // 100
        trailer = adv.auth_data or bytes(AUTH_DATA_LEN)
    body = b"".join(a.packed for a in adv.addresses) + trailer
    header = _HEADER.pack((adv.version << 4) | adv.type, adv.vrid, adv.priority, count, b4, b5, 0)
    msg = header + body
    partial = int.from_bytes(msg, "big")
    if adv.version == 3 and (width == 16 or form == CHECKSUM_RFC5798):
        partial += pseudo_sum(_addr_int(src, width, "src"), _addr_int(dst, width, "dst"), len(msg))
    return msg[:6] + finish(partial).to_bytes(2, "big") + msg[8:]


def check_v2_auth(adv: Advertisement, *, auth_type: int, auth_data: bytes) -> None:
    """Raise :class:`PacketError` unless a v2 ``adv`` carries the locally configured authentication.

    RFC 3768 §5.3.6 / §7.1: an advert whose Auth Type differs from the local method is discarded
    (AUTH_TYPE_MISMATCH).  keepalived's ``PASS`` compares the 8 auth bytes in constant time (AUTH);
    ``auth_data`` is the configured password as given (it is cut/padded like :func:`pass_auth_data`).
    keepalived's ``AH`` travels in an IPsec AH header this codec does not build, so it always fails (AUTH).
    v3 adverts have no authentication: nothing to check.
    """
    if adv.version != 2:
        return
    if adv.auth_type != auth_type:
        raise PacketError(Reason.AUTH_TYPE_MISMATCH, f"Auth Type {adv.auth_type} received, {auth_type} configured")
    if auth_type == AUTH_PASS:
        import hmac  # here, not at the top: it loads hashlib and OpenSSL's bindings (~0.5 MiB) into every VRRP
        # process, and only PASS authentication (a v2 instance with auth_type PASS) ever compares

        if not hmac.compare_digest(adv.auth_data, pass_auth_data(auth_data)):
            raise PacketError(Reason.AUTH, "PASS authentication data does not match")
    if auth_type == AUTH_AH:
        raise PacketError(Reason.AUTH, "AH authentication is not supported")
