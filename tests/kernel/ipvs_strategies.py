"""Hypothesis strategies for IPVS tables and operation sequences, shared by property and kernel tests.

Pools are small on purpose so random sequences collide: duplicate adds, edits of missing entries and deletes
twice are what exercises the kernel's error semantics. Some values are invalid on purpose (unknown scheduler,
IPv6 prefix 0, lower threshold above upper, GUE without a port, multicast destinations...).
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ipvs.model import (
    AF_INET,
    AF_INET6,
    F_ONEPACKET,
    F_PERSISTENT,
    F_SCHED1,
    F_SCHED2,
    F_SCHED3,
    DesiredService,
    Destination,
    DestKey,
    Forward,
    Service,
    ServiceKey,
    TunType,
)
from ipvs.ops import Op

KERNEL_SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh")

V4_VIPS = ("10.0.0.100", "200.0.0.1", "100.64.0.1", "255.255.255.254")
V6_VIPS = ("fd00::100", "2001:db8::1", "fd00:ffff::1")
V4_RIPS = ("10.1.0.1", "10.1.0.2", "200.1.0.1", "100.64.1.1", "192.0.2.1")
V6_RIPS = ("fd01::1", "fd01::2", "2001:db8:1::1")
BAD_RIPS = ("224.0.0.5", "fe80::1", "0.0.0.0")
FWMARKS = (1, 7, 4294967295, 2147483648)

service_keys = st.one_of(
    st.builds(lambda p, a, port: ServiceKey.inet(p, a, port), st.sampled_from((6, 17, 132)),
              st.sampled_from(V4_VIPS + V6_VIPS), st.sampled_from((0, 80, 443, 65535))),
    st.builds(ServiceKey.mark, st.sampled_from(FWMARKS), st.sampled_from((AF_INET, AF_INET6))),
)


def _netmasks(af: int, valid_only: bool) -> st.SearchStrategy[int]:
    if af == AF_INET:
        return st.sampled_from((0xFFFFFFFF, 0xFFFFFF00, 0xFFFF0000, 0, 0xFF00FF00))
    good = st.sampled_from((128, 64, 1, 96))
    return good if valid_only else st.one_of(good, good, good, st.sampled_from((0, 129)))


@st.composite
def services(draw: st.DrawFn, key: ServiceKey | None = None, valid_only: bool = False) -> Service:
    k = draw(service_keys) if key is None else key
    scheds = st.sampled_from(KERNEL_SCHEDULERS)
    bad_sched = st.sampled_from(("twos", "nope"))
    sched = draw(scheds if valid_only else st.one_of(scheds, scheds, scheds, scheds, bad_sched))
    flags = 0
    for bit in (F_PERSISTENT, F_ONEPACKET, F_SCHED1, F_SCHED2, F_SCHED3):
        if draw(st.booleans()):
            flags |= bit
    pe = draw(st.sampled_from(("", "", "sip") if valid_only else ("", "", "", "", "sip", "sip", "bogus")))
    return Service(k, scheduler=sched, flags=flags, timeout=draw(st.integers(0, 100000)),
                   netmask=draw(_netmasks(k.af, valid_only)), pe_name=pe)


def dest_keys(af: int | None = None, valid_only: bool = False) -> st.SearchStrategy[DestKey]:
    addrs: tuple[str, ...] = V4_RIPS + V6_RIPS
    if af == AF_INET:
        addrs = V4_RIPS
    elif af == AF_INET6:
        addrs = V6_RIPS
    pool = st.sampled_from(addrs)
    if not valid_only:
        pool = st.one_of(pool, pool, pool, st.sampled_from(BAD_RIPS))
    return st.builds(DestKey.of, pool, st.sampled_from((0, 80, 8080)))


@st.composite
def destinations(draw: st.DrawFn, svc_af: int | None = None, valid_only: bool = False) -> Destination:
    same_family = valid_only and draw(st.integers(0, 4)) > 0
    key = draw(dest_keys(svc_af if same_family else None, valid_only))
    fwd = draw(st.sampled_from((Forward.NAT, Forward.DR, Forward.TUNNEL, Forward.LOCAL)))
    if valid_only and svc_af is not None and key.af != svc_af:
        fwd = Forward.TUNNEL
    u = draw(st.sampled_from((0, 0, 10, 1000)))
    lo = draw(st.sampled_from((0, 0, 5))) if not valid_only else draw(st.integers(0, u))
    tun_type = draw(st.sampled_from(tuple(TunType)))
    tun_port = draw(st.sampled_from((0, 6080)))
    tun_flags = draw(st.sampled_from((0, 1, 2)))
    if valid_only:
        if tun_type == TunType.GUE:
            tun_port = tun_port or 6080
        elif tun_flags == 2:
            tun_flags = 0
    weights = st.integers(0, 100)
    weight = draw(weights if valid_only else st.one_of(weights, st.just(0x80000000)))
    return Destination(key, forward=fwd, weight=weight, u_threshold=u, l_threshold=lo, tun_type=tun_type,
                       tun_port=tun_port, tun_flags=tun_flags)


@st.composite
def op_sequences(draw: st.DrawFn, max_size: int = 40) -> list[Op]:
    """Operations over 1-3 services and 1-4 destination keys, so most operations meet existing entries."""
    keys = draw(st.lists(service_keys, min_size=1, max_size=3, unique=True))
    dkeys = draw(st.lists(dest_keys(), min_size=1, max_size=4, unique=True))
    n = draw(st.integers(1, max_size))
    out: list[Op] = []
    for _ in range(n):
        key = draw(st.sampled_from(keys))
        kind = draw(st.sampled_from(("as", "as", "es", "ds", "ad", "ad", "ad", "ad", "ed", "ed", "dd")))
        if kind == "as":
            out.append(Op.add_service(draw(services(key))))
        elif kind == "es":
            out.append(Op.edit_service(draw(services(key))))
        elif kind == "ds":
            out.append(Op.delete_service(key))
        elif kind in ("ad", "ed"):
            d = draw(destinations()).with_(key=draw(st.sampled_from(dkeys)))
            out.append(Op.add_dest(key, d) if kind == "ad" else Op.edit_dest(key, d))
        else:
            out.append(Op.delete_dest(key, draw(st.sampled_from(dkeys))))
    return out


@st.composite
def desired_tables(draw: st.DrawFn, keys: st.SearchStrategy[ServiceKey] = service_keys,
                   max_services: int = 6, max_dests: int = 5) -> list[DesiredService]:
    """Valid tables (every operation to build them succeeds in the kernel)."""
    chosen = draw(st.lists(keys, max_size=max_services, unique=True))
    out = []
    for k in chosen:
        svc = draw(services(k, valid_only=True))
        dests = draw(st.lists(destinations(k.af, valid_only=True), max_size=max_dests,
                              unique_by=lambda d: d.key))
        out.append(DesiredService(svc, tuple(dests)))
    return out


def expected_writes(desired: Any, ours: Any) -> int:
    """The minimal number of writes, counted independently of the planner: every missing service or
    destination is one add, every differing one is one edit, every unwanted owned service or destination of a
    desired service is one delete (a service delete takes its destinations with it)."""
    have = {d.key: d for d in ours}
    want_keys = {d.key for d in desired}
    n = sum(1 for d in ours if d.key not in want_keys)
    for d in desired:
        cur = have.get(d.key)
        if cur is None:
            n += 1 + len(d.dests)
            continue
        n += int(cur.service != d.service)
        cur_d = {x.key: x for x in cur.dests}
        want_d = {x.key: x for x in d.dests}
        n += sum(1 for k in cur_d if k not in want_d)
        n += sum(1 for k, x in want_d.items() if cur_d.get(k) != x)
    return n
