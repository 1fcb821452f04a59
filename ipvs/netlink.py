"""Kernel backend: the IPVS generic-netlink family, spoken directly, batched, in any network namespace.

Why not pyroute2's ``AsyncIPVS``: its "update" command deletes, ``TUN_PORT``/``NETMASK`` have the wrong wire
types for GUE ports and IPv6 prefixes, it cannot address fwmark services when dumping destinations, it lacks
flush, zero, timeouts and info, and it waits for one ACK per request. A full sync of 100,000 entries must
instead pipeline: we send many requests in one ``sendmsg`` (the kernel handles every message of a datagram in
order), ask for an ACK only on the last one, and collect the errors the kernel reports for the others. The
codec is a few structs, so encoding stays cheap enough to keep up with ``ipvsadm -R``.

Netlink to the kernel completes inside the syscall, so the socket is used blocking even behind the async API.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ipvs.errors import IPVSError
from ipvs.formats import parse_proc_connections
from ipvs.model import (
    AF_INET,
    AF_INET6,
    F_HASHED,
    Connection,
    Destination,
    DestKey,
    DestState,
    Forward,
    Info,
    Service,
    ServiceKey,
    ServiceState,
    Stats,
    SyncDaemon,
    Timeouts,
    TunType,
)
from ipvs.ops import Op, OpKind

NETLINK_GENERIC = 16
NLM_F_REQUEST = 0x1
NLM_F_MULTI = 0x2
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
SOL_NETLINK = 270
NETLINK_CAP_ACK = 10
NETLINK_EXT_ACK = 11
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32

# IPVS generic netlink commands and attributes (include/uapi/linux/ip_vs.h)
CMD_NEW_SERVICE, CMD_SET_SERVICE, CMD_DEL_SERVICE, CMD_GET_SERVICE = 1, 2, 3, 4
CMD_NEW_DEST, CMD_SET_DEST, CMD_DEL_DEST, CMD_GET_DEST = 5, 6, 7, 8
CMD_SET_CONFIG, CMD_GET_CONFIG, CMD_GET_INFO, CMD_ZERO, CMD_FLUSH = 12, 13, 15, 16, 17
CMD_ATTR_SERVICE, CMD_ATTR_DEST, CMD_ATTR_DAEMON = 1, 2, 3
CMD_NEW_DAEMON, CMD_DEL_DAEMON, CMD_GET_DAEMON = 9, 10, 11
# IPVS_DAEMON_ATTR_*
DMN_STATE, DMN_MCAST_IFN, DMN_SYNC_ID, DMN_SYNC_MAXLEN = 1, 2, 3, 4
DMN_MCAST_GROUP, DMN_MCAST_GROUP6, DMN_MCAST_PORT, DMN_MCAST_TTL = 5, 6, 7, 8
CMD_ATTR_TIMEOUT_TCP, CMD_ATTR_TIMEOUT_TCP_FIN, CMD_ATTR_TIMEOUT_UDP = 4, 5, 6
SVC_AF, SVC_PROTOCOL, SVC_ADDR, SVC_PORT, SVC_FWMARK, SVC_SCHED_NAME = 1, 2, 3, 4, 5, 6
SVC_FLAGS, SVC_TIMEOUT, SVC_NETMASK, SVC_STATS, SVC_PE_NAME, SVC_STATS64 = 7, 8, 9, 10, 11, 12
DST_ADDR, DST_PORT, DST_FWD, DST_WEIGHT, DST_U_THRESH, DST_L_THRESH = 1, 2, 3, 4, 5, 6
DST_ACTIVE, DST_INACT, DST_PERSIST, DST_STATS, DST_AF, DST_STATS64 = 7, 8, 9, 10, 11, 12
DST_TUN_TYPE, DST_TUN_PORT, DST_TUN_FLAGS = 13, 14, 15
INFO_VERSION, INFO_CONN_TAB_SIZE = 1, 2

_OP_CMD = {
    OpKind.ADD_SERVICE: CMD_NEW_SERVICE,
    OpKind.EDIT_SERVICE: CMD_SET_SERVICE,
    OpKind.DELETE_SERVICE: CMD_DEL_SERVICE,
    OpKind.ADD_DEST: CMD_NEW_DEST,
    OpKind.EDIT_DEST: CMD_SET_DEST,
    OpKind.DELETE_DEST: CMD_DEL_DEST,
}

_HDR = struct.Struct("=IHHII")
_GENL = struct.Struct("=BBH")
_NLA = struct.Struct("=HH")
_U16 = struct.Struct("=H")
_U32 = struct.Struct("=I")
_BE16 = struct.Struct("!H")
_FLAGS = struct.Struct("=II")


# -- codec ---------------------------------------------------------------------------------------------------


def _nla(kind: int, payload: bytes) -> bytes:
    n = 4 + len(payload)
    return _NLA.pack(n, kind) + payload + b"\0" * ((4 - n % 4) % 4)


def _addr_bytes(af: int, addr: str) -> bytes:
    return socket.inet_pton(af, addr)


def encode_service_key(key: ServiceKey) -> bytes:
    parts = [_nla(SVC_AF, _U16.pack(key.af))]
    if key.fwmark:
        parts.append(_nla(SVC_FWMARK, _U32.pack(key.fwmark)))
    else:
        parts.append(_nla(SVC_PROTOCOL, _U16.pack(key.protocol)))
        parts.append(_nla(SVC_ADDR, _addr_bytes(key.af, key.addr)))
        parts.append(_nla(SVC_PORT, _BE16.pack(key.port)))
    return b"".join(parts)


def encode_netmask(af: int, netmask: int) -> bytes:
    """IPv4: the mask in network byte order; IPv6: the prefix length as a host-order u32 (like ipvsadm)."""
    return struct.pack("!I", netmask) if af == AF_INET else _U32.pack(netmask)


def decode_netmask(af: int, raw: bytes) -> int:
    return int(struct.unpack("!I", raw[:4])[0] if af == AF_INET else _U32.unpack(raw[:4])[0])


def encode_service(svc: Service) -> bytes:
    body = [
        encode_service_key(svc.key),
        _nla(SVC_SCHED_NAME, svc.scheduler.encode() + b"\0"),
    ]
    if svc.pe_name:
        body.append(_nla(SVC_PE_NAME, svc.pe_name.encode() + b"\0"))
    body.append(_nla(SVC_FLAGS, _FLAGS.pack(svc.flags, 0xFFFFFFFF)))
    body.append(_nla(SVC_TIMEOUT, _U32.pack(svc.timeout)))
    body.append(_nla(SVC_NETMASK, encode_netmask(svc.key.af, svc.netmask)))
    return b"".join(body)


def encode_dest(dest: Destination, full: bool = True) -> bytes:
    k = dest.key
    parts = [
        _nla(DST_AF, _U16.pack(k.af)),
        _nla(DST_ADDR, _addr_bytes(k.af, k.addr)),
        _nla(DST_PORT, _BE16.pack(k.port)),
    ]
    if full:
        parts += [
            _nla(DST_FWD, _U32.pack(int(dest.forward))),
            _nla(DST_WEIGHT, _U32.pack(dest.weight)),
            _nla(DST_TUN_TYPE, bytes([int(dest.tun_type)])),
            _nla(DST_TUN_PORT, _BE16.pack(dest.tun_port)),
            _nla(DST_TUN_FLAGS, _U16.pack(dest.tun_flags)),
            _nla(DST_U_THRESH, _U32.pack(dest.u_threshold)),
            _nla(DST_L_THRESH, _U32.pack(dest.l_threshold)),
        ]
    return b"".join(parts)


def encode_daemon(d: SyncDaemon) -> bytes:
    """The IPVS_CMD_ATTR_DAEMON nest for IPVS_CMD_NEW_DAEMON (optional attributes only when set)."""
    parts = [_nla(DMN_STATE, _U32.pack(d.state)), _nla(DMN_MCAST_IFN, d.mcast_ifn.encode() + b"\0"),
             _nla(DMN_SYNC_ID, _U32.pack(d.syncid))]
    if d.sync_maxlen:
        parts.append(_nla(DMN_SYNC_MAXLEN, _U16.pack(d.sync_maxlen)))
    if d.mcast_group:
        six = ":" in d.mcast_group
        parts.append(_nla(DMN_MCAST_GROUP6 if six else DMN_MCAST_GROUP,
                          _addr_bytes(AF_INET6 if six else AF_INET, d.mcast_group)))
    if d.mcast_port:
        parts.append(_nla(DMN_MCAST_PORT, _U16.pack(d.mcast_port)))  # host order (nla_get_u16)
    if d.mcast_ttl:
        parts.append(_nla(DMN_MCAST_TTL, bytes([d.mcast_ttl])))
    return _nla(CMD_ATTR_DAEMON, b"".join(parts))


def decode_daemon(raw: bytes) -> SyncDaemon:
    a = dict(iter_attrs(raw))
    group = None
    if DMN_MCAST_GROUP in a:
        group = _decode_addr(AF_INET, a[DMN_MCAST_GROUP])
    elif DMN_MCAST_GROUP6 in a:
        group = _decode_addr(AF_INET6, a[DMN_MCAST_GROUP6])
    return SyncDaemon(
        state=_U32.unpack(a[DMN_STATE][:4])[0],
        mcast_ifn=a.get(DMN_MCAST_IFN, b"").split(b"\0", 1)[0].decode(errors="replace"),
        syncid=_U32.unpack(a[DMN_SYNC_ID][:4])[0] if DMN_SYNC_ID in a else 0,
        sync_maxlen=_U16.unpack(a[DMN_SYNC_MAXLEN][:2])[0] if DMN_SYNC_MAXLEN in a else 0,
        mcast_group=group,
        mcast_port=_U16.unpack(a[DMN_MCAST_PORT][:2])[0] if DMN_MCAST_PORT in a else 0,
        mcast_ttl=a[DMN_MCAST_TTL][0] if DMN_MCAST_TTL in a else 0,
    )


def encode_op_attrs(op: Op) -> bytes:
    """The attributes of the genl message for ``op`` (service nest, then dest nest)."""
    if op.kind in (OpKind.ADD_SERVICE, OpKind.EDIT_SERVICE):
        assert op.service is not None
        return _nla(CMD_ATTR_SERVICE, encode_service(op.service))
    svc = _nla(CMD_ATTR_SERVICE, encode_service_key(op.key))
    if op.kind is OpKind.DELETE_SERVICE:
        return svc
    if op.kind is OpKind.DELETE_DEST:
        assert op.dest_key is not None
        return svc + _nla(CMD_ATTR_DEST, encode_dest(Destination(op.dest_key), full=False))
    assert op.dest is not None
    return svc + _nla(CMD_ATTR_DEST, encode_dest(op.dest))


def iter_attrs(data: bytes, start: int = 0, end: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each NLA in ``data[start:end]`` (the nested flag is stripped)."""
    end = len(data) if end is None else end
    off = start
    while off + 4 <= end:
        n, kind = _NLA.unpack_from(data, off)
        if n < 4:
            break
        yield kind & 0x3FFF, data[off + 4 : off + n]
        off += (n + 3) & ~3


def _decode_stats(raw: bytes, wide: bool) -> Stats:
    vals = [0] * 10
    for kind, payload in iter_attrs(raw):
        if 1 <= kind <= 10:
            vals[kind - 1] = int.from_bytes(payload, "little")
    del wide
    return Stats(*vals)


def _decode_addr(af: int, raw: bytes) -> str:
    return socket.inet_ntop(af, raw[:4] if af == AF_INET else raw[:16])


def decode_service(raw: bytes) -> ServiceState:
    a = dict(iter_attrs(raw))
    af = _U16.unpack(a[SVC_AF][:2])[0]
    fwmark = _U32.unpack(a[SVC_FWMARK][:4])[0] if SVC_FWMARK in a else 0
    if fwmark:
        key = ServiceKey(af, 0, "", 0, fwmark)
    else:
        key = ServiceKey(
            af,
            _U16.unpack(a[SVC_PROTOCOL][:2])[0],
            _decode_addr(af, a[SVC_ADDR]),
            _BE16.unpack(a[SVC_PORT])[0],
        )
    flags = _FLAGS.unpack(a[SVC_FLAGS][:8])[0] & ~F_HASHED
    pe = a[SVC_PE_NAME].split(b"\0")[0].decode() if SVC_PE_NAME in a else ""
    svc = Service(
        key,
        scheduler=a[SVC_SCHED_NAME].split(b"\0")[0].decode(),
        flags=flags,
        timeout=_U32.unpack(a[SVC_TIMEOUT][:4])[0],
        netmask=decode_netmask(af, a[SVC_NETMASK]),
        pe_name=pe,
    )
    stats = _stats_attr(a, SVC_STATS64, SVC_STATS)
    return ServiceState(svc, (), stats)


def _stats_attr(a: dict[int, bytes], stats64: int, stats32: int) -> Stats:
    """Counters from the 64-bit attribute when the kernel sends it (>= 4.1), else the 32-bit one, else zeros."""
    if stats64 in a:
        return _decode_stats(a[stats64], True)
    if stats32 in a:
        return _decode_stats(a[stats32], False)
    return Stats()


def decode_dest(raw: bytes, svc_af: int) -> DestState:
    a = dict(iter_attrs(raw))
    af = _U16.unpack(a[DST_AF][:2])[0] if DST_AF in a else svc_af
    dest = Destination(
        DestKey(af, _decode_addr(af, a[DST_ADDR]), _BE16.unpack(a[DST_PORT])[0]),
        forward=Forward(_U32.unpack(a[DST_FWD][:4])[0] & 0x7),
        weight=_U32.unpack(a[DST_WEIGHT][:4])[0],
        u_threshold=_U32.unpack(a[DST_U_THRESH][:4])[0],
        l_threshold=_U32.unpack(a[DST_L_THRESH][:4])[0],
        tun_type=TunType(a[DST_TUN_TYPE][0]) if DST_TUN_TYPE in a else TunType.IPIP,
        tun_port=_BE16.unpack(a[DST_TUN_PORT][:2])[0] if DST_TUN_PORT in a else 0,
        tun_flags=_U16.unpack(a[DST_TUN_FLAGS][:2])[0] if DST_TUN_FLAGS in a else 0,
    )
    stats = _stats_attr(a, DST_STATS64, DST_STATS)
    return DestState(
        dest,
        active_conns=_U32.unpack(a[DST_ACTIVE][:4])[0],
        inact_conns=_U32.unpack(a[DST_INACT][:4])[0],
        persist_conns=_U32.unpack(a[DST_PERSIST][:4])[0],
        stats=stats,
    )


# -- namespaces ----------------------------------------------------------------------------------------------

_CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def read_in_netns(netns: str | None, path: str) -> str:
    """The text of a /proc/net file as ``netns`` sees it (the namespace is fixed when the file is opened)."""
    if netns is None:
        with open(path) as f:
            return f.read()
    target = os.open(netns if "/" in netns else f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            f = open(path.replace("/proc/net/", "/proc/thread-self/net/", 1))  # noqa: SIM115
        finally:
            _setns(home)
        with f:
            return f.read()
    finally:
        os.close(target)
        os.close(home)


def open_netlink_socket(netns: str | None = None) -> socket.socket:
    """A generic netlink socket in ``netns`` (a name under /run/netns or a path), or in our own namespace.

    The socket stays bound to the namespace it was created in, so we enter it only for the ``socket()`` call,
    on this thread only, and come straight back.
    """
    if netns is None:
        return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
    path = netns if "/" in netns else f"/run/netns/{netns}"
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _setns(target)
        try:
            return socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


# -- the connection ------------------------------------------------------------------------------------------


@dataclass
class _Reply:
    messages: list[bytes]  # genl payloads (after the genl header) of data messages
    error: int  # 0 or a positive errno


class IPVSNetlink:
    """A synchronous IPVS generic netlink connection. :class:`KernelBackend` wraps it in the async API."""

    #: requests per sendmsg in :meth:`apply_batch` (bounded so error replies always fit the receive buffer)
    BATCH = 512
    #: seconds to wait for a reply; the kernel answers within the syscall, so this only catches lost replies
    TIMEOUT = 30.0

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self.sock = open_netlink_socket(netns)
        self.requests_sent = 0
        try:
            for opt in (SO_SNDBUFFORCE, SO_RCVBUFFORCE):
                with contextlib.suppress(PermissionError):
                    self.sock.setsockopt(socket.SOL_SOCKET, opt, 8 << 20)
            with contextlib.suppress(OSError):
                self.sock.setsockopt(SOL_NETLINK, NETLINK_CAP_ACK, 1)
            self.sock.bind((0, 0))
            # every failed request in a batch queues one error reply (~1 KiB of buffer accounting each): keep
            # batches small enough that a batch of failures (say EPERM for a non-root user) cannot overflow
            rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            self.batch = max(1, min(self.BATCH, rcvbuf // 2048))
            self.sock.settimeout(self.TIMEOUT)
            self._seq = 1
            self._buf = bytearray(1 << 20)
            self.family = self._resolve_family()
        except OSError:
            self.sock.close()
            raise

    def close(self) -> None:
        self.sock.close()

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFF or 1
        return self._seq

    def _message(self, mtype: int, flags: int, cmd: int, attrs: bytes, seq: int, version: int = 1) -> bytes:
        return _HDR.pack(16 + 4 + len(attrs), mtype, flags, seq, 0) + _GENL.pack(cmd, version, 0) + attrs

    def _recv(self) -> Iterator[tuple[int, int, int, bytes]]:
        """(type, flags, seq, payload) of each message in one datagram."""
        try:
            n = self.sock.recv_into(self._buf)
        except TimeoutError:
            raise IPVSError(errno.ETIMEDOUT, "recv", "no reply from the kernel") from None
        data = bytes(self._buf[:n])
        off = 0
        while off + 16 <= n:
            length, mtype, flags, seq, _pid = _HDR.unpack_from(data, off)
            if length < 16:
                break
            yield mtype, flags, seq, data[off + 16 : off + length]
            off += (length + 3) & ~3

    def _request(self, mtype: int, cmd: int, attrs: bytes, *, dump: bool = False) -> _Reply:
        seq = self._next_seq()
        flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else NLM_F_ACK)
        self.sock.send(self._message(mtype, flags, cmd, attrs, seq))
        self.requests_sent += 1
        out: list[bytes] = []
        while True:
            for rtype, _rflags, rseq, payload in self._recv():
                if rseq != seq:
                    continue
                if rtype == NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    return _Reply(out, err)
                if rtype == NLMSG_DONE:
                    err = -struct.unpack_from("=i", payload)[0] if len(payload) >= 4 else 0
                    return _Reply(out, err)
                out.append(payload[4:])
                if not dump:
                    # a GET without dump answers with one message, then (with ACK) an error 0
                    continue

    def _resolve_family(self) -> int:
        reply = self._request(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, _nla(CTRL_ATTR_FAMILY_NAME, b"IPVS\0"))
        for payload in reply.messages:
            for kind, raw in iter_attrs(payload):
                if kind == CTRL_ATTR_FAMILY_ID:
                    return int(_U16.unpack(raw[:2])[0])
        raise IPVSError(reply.error or errno.ENOENT, "connect", "no IPVS netlink family: load the ip_vs module")

    def call(self, op_name: str, cmd: int, attrs: bytes) -> _Reply:
        reply = self._request(self.family, cmd, attrs)
        if reply.error:
            raise IPVSError(reply.error, op_name)
        return reply

    def dump(self, op_name: str, cmd: int, attrs: bytes = b"") -> list[bytes]:
        reply = self._request(self.family, cmd, attrs, dump=True)
        if reply.error:
            raise IPVSError(reply.error, op_name)
        return reply.messages

    # -- table reads ---------------------------------------------------------------------------------------

    def list_services(self, with_dests: bool = True) -> list[ServiceState]:
        services: list[ServiceState] = []
        for payload in self.dump("list_services", CMD_GET_SERVICE):
            for kind, raw in iter_attrs(payload):
                if kind == CMD_ATTR_SERVICE:
                    services.append(decode_service(raw))
        if not with_dests:
            return services
        return [ServiceState(s.service, tuple(self.list_dests(s.key)), s.stats) for s in services]

    def get_service(self, key: ServiceKey) -> ServiceState | None:
        reply = self._request(self.family, CMD_GET_SERVICE, _nla(CMD_ATTR_SERVICE, encode_service_key(key)))
        if reply.error == errno.ESRCH:
            return None
        if reply.error:
            raise IPVSError(reply.error, "get_service", str(key))
        for payload in reply.messages:
            for kind, raw in iter_attrs(payload):
                if kind == CMD_ATTR_SERVICE:
                    s = decode_service(raw)
                    return ServiceState(s.service, tuple(self.list_dests(key)), s.stats)
        return None

    def list_dests(self, key: ServiceKey) -> list[DestState]:
        out: list[DestState] = []
        for payload in self.dump("list_dests", CMD_GET_DEST, _nla(CMD_ATTR_SERVICE, encode_service_key(key))):
            for kind, raw in iter_attrs(payload):
                if kind == CMD_ATTR_DEST:
                    out.append(decode_dest(raw, key.af))
        return out

    def get_timeouts(self) -> Timeouts:
        reply = self.call("get_timeouts", CMD_GET_CONFIG, b"")
        vals = {CMD_ATTR_TIMEOUT_TCP: 0, CMD_ATTR_TIMEOUT_TCP_FIN: 0, CMD_ATTR_TIMEOUT_UDP: 0}
        for payload in reply.messages:
            for kind, raw in iter_attrs(payload):
                if kind in vals:
                    vals[kind] = _U32.unpack(raw[:4])[0]
        tcp, fin, udp = vals[CMD_ATTR_TIMEOUT_TCP], vals[CMD_ATTR_TIMEOUT_TCP_FIN], vals[CMD_ATTR_TIMEOUT_UDP]
        return Timeouts(tcp, fin, udp)

    def set_timeouts(self, t: Timeouts) -> None:
        attrs = (
            _nla(CMD_ATTR_TIMEOUT_TCP, _U32.pack(t.tcp))
            + _nla(CMD_ATTR_TIMEOUT_TCP_FIN, _U32.pack(t.tcp_fin))
            + _nla(CMD_ATTR_TIMEOUT_UDP, _U32.pack(t.udp))
        )
        self.call("set_timeouts", CMD_SET_CONFIG, attrs)

    def get_info(self) -> Info:
        reply = self.call("get_info", CMD_GET_INFO, b"")
        version, size = 0, 0
        for payload in reply.messages:
            for kind, raw in iter_attrs(payload):
                if kind == INFO_VERSION:
                    version = _U32.unpack(raw[:4])[0]
                elif kind == INFO_CONN_TAB_SIZE:
                    size = _U32.unpack(raw[:4])[0]
        return Info(version, size)

    def list_daemons(self) -> list[SyncDaemon]:
        out = []
        for payload in self.dump("list_daemons", CMD_GET_DAEMON):
            for kind, raw in iter_attrs(payload):
                if kind == CMD_ATTR_DAEMON:
                    out.append(decode_daemon(raw))
        return out

    def list_connections(self) -> list[Connection]:
        return parse_proc_connections(read_in_netns(self.netns, "/proc/net/ip_vs_conn"))

    # -- table writes --------------------------------------------------------------------------------------

    def start_daemon(self, d: SyncDaemon) -> None:
        self.call("start_daemon", CMD_NEW_DAEMON, encode_daemon(d))

    def stop_daemon(self, state: int) -> None:
        self.call("stop_daemon", CMD_DEL_DAEMON, _nla(CMD_ATTR_DAEMON, _nla(DMN_STATE, _U32.pack(state))))

    def apply(self, op: Op) -> None:
        self.call(op.kind.value, _OP_CMD[op.kind], encode_op_attrs(op))

    def flush(self) -> None:
        self.call("flush", CMD_FLUSH, b"")

    def zero(self, key: ServiceKey | None) -> None:
        attrs = b"" if key is None else _nla(CMD_ATTR_SERVICE, encode_service_key(key))
        self.call("zero", CMD_ZERO, attrs)

    def apply_batch(self, ops: Sequence[Op]) -> list[BaseException | None]:
        """Apply ``ops`` in order, pipelined; one result per op (None or IPVSError), never stopping early.

        Only the last request of each datagram asks for an ACK: the kernel processes the datagram's messages
        in order during ``sendmsg`` and replies only to failures otherwise, so when the final ACK arrives
        every error of that datagram is already queued before it.
        """
        results: list[BaseException | None] = [None] * len(ops)
        for start in range(0, len(ops), self.batch):
            chunk = ops[start : start + self.batch]
            seqs: dict[int, int] = {}
            parts: list[bytes] = []
            for i, op in enumerate(chunk):
                seq = self._next_seq()
                seqs[seq] = start + i
                flags = NLM_F_REQUEST | (NLM_F_ACK if i == len(chunk) - 1 else 0)
                parts.append(self._message(self.family, flags, _OP_CMD[op.kind], encode_op_attrs(op), seq))
            self.sock.send(b"".join(parts))
            self.requests_sent += len(chunk)
            last = self._seq
            done = False
            while not done:
                for rtype, _f, rseq, payload in self._recv():
                    if rtype != NLMSG_ERROR or rseq not in seqs:
                        continue
                    err = -struct.unpack_from("=i", payload)[0]
                    idx = seqs[rseq]
                    if err:
                        results[idx] = IPVSError(err, ops[idx].kind.value, str(ops[idx]))
                    if rseq == last:
                        done = True
        return results


class KernelBackend:
    """:class:`ipvs.backend.Backend` for the kernel's IPVS table of one network namespace (None = our own)."""

    def __init__(self, netns: str | None = None) -> None:
        self.nl = IPVSNetlink(netns)

    @property
    def requests_sent(self) -> int:
        return self.nl.requests_sent

    async def list_services(self) -> list[ServiceState]:
        return self.nl.list_services()

    async def get_service(self, key: ServiceKey) -> ServiceState | None:
        return self.nl.get_service(key)

    async def add_service(self, svc: Service) -> None:
        self.nl.apply(Op.add_service(svc))

    async def edit_service(self, svc: Service) -> None:
        self.nl.apply(Op.edit_service(svc))

    async def delete_service(self, key: ServiceKey) -> None:
        self.nl.apply(Op.delete_service(key))

    async def add_dest(self, key: ServiceKey, dest: Destination) -> None:
        self.nl.apply(Op.add_dest(key, dest))

    async def edit_dest(self, key: ServiceKey, dest: Destination) -> None:
        self.nl.apply(Op.edit_dest(key, dest))

    async def delete_dest(self, key: ServiceKey, dest: DestKey) -> None:
        self.nl.apply(Op.delete_dest(key, dest))

    async def flush(self) -> None:
        self.nl.flush()

    async def zero(self, key: ServiceKey | None = None) -> None:
        self.nl.zero(key)

    async def get_timeouts(self) -> Timeouts:
        return self.nl.get_timeouts()

    async def set_timeouts(self, timeouts: Timeouts) -> None:
        self.nl.set_timeouts(timeouts)

    async def get_info(self) -> Info:
        return self.nl.get_info()

    async def apply_batch(self, ops: Sequence[Op]) -> list[BaseException | None]:
        return self.nl.apply_batch(ops)

    async def list_daemons(self) -> list[SyncDaemon]:
        return self.nl.list_daemons()

    async def start_daemon(self, daemon: SyncDaemon) -> None:
        self.nl.start_daemon(daemon)

    async def stop_daemon(self, state: int) -> None:
        self.nl.stop_daemon(state)

    async def list_connections(self) -> list[Connection]:
        return self.nl.list_connections()

    async def close(self) -> None:
        self.nl.close()


__all__ = ["AF_INET", "AF_INET6", "IPVSNetlink", "KernelBackend", "open_netlink_socket"]
