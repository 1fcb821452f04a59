"""The netlink codec round-trips every service and destination the model can express (the kernel tier checks
the same against Linux; this pins the wire forms: IPv4 netmask in network order, IPv6 prefix as host u32,
be16 ports including the GUE tunnel port, flags with a full mask)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from ipvs.model import AF_INET, F_HASHED, Destination, Service
from ipvs.netlink import (
    DST_ACTIVE,
    DST_INACT,
    DST_PERSIST,
    SVC_FLAGS,
    _nla,
    decode_dest,
    decode_netmask,
    decode_service,
    encode_dest,
    encode_netmask,
    encode_service,
    iter_attrs,
)
from tests.kernel.ipvs_strategies import destinations, services


@given(services())
def test_service_round_trip(svc: Service) -> None:
    assert decode_service(encode_service(svc)).service == svc


@given(services())
def test_hashed_flag_from_the_kernel_is_not_part_of_the_model(svc: Service) -> None:
    raw = b"".join(
        _nla(kind, struct.pack("=II", svc.flags | F_HASHED, 0xFFFFFFFF)) if kind == SVC_FLAGS else _nla(kind, payload)
        for kind, payload in iter_attrs(encode_service(svc))
    )
    assert decode_service(raw).service == svc


@given(destinations(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_destination_round_trip_with_counters(dest: Destination, active: int, inact: int, persist: int) -> None:
    raw = encode_dest(dest) + b"".join(
        _nla(k, struct.pack("=I", v)) for k, v in ((DST_ACTIVE, active), (DST_INACT, inact), (DST_PERSIST, persist))
    )
    state = decode_dest(raw, AF_INET)
    assert (state.dest, state.active_conns, state.inact_conns, state.persist_conns) == (dest, active, inact, persist)


def test_netmask_wire_forms_match_ipvsadm() -> None:
    assert encode_netmask(AF_INET, 0xFFFFFF00) == bytes([255, 255, 255, 0])
    assert encode_netmask(10, 64) == struct.pack("=I", 64)
    assert decode_netmask(AF_INET, bytes([255, 255, 0, 0])) == 0xFFFF0000
