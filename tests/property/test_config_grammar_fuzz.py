"""Grammar fuzzer for keepalived.conf: near-valid configurations, then mutated, through the whole pipeline.

The strategy writes what keepalived(5) describes - blocks and their keywords, numbers at and past their bounds,
IPv4/IPv6 addresses with prefixes, ``$NAME`` definitions (single and multi-line) and references, ``@id``
conditionals, ``~SEQ``/``~LST`` lines and includes between several files (globs, brace patterns, loops, a FIFO,
a device, a directory, an executable file) - and then mutates the bytes (cut, duplicated or inserted spans,
NUL, stray braces and quotes, invalid UTF-8). Properties, for every input:

- no exception escapes ``load_config`` and it ends within :data:`BOUND_S` (a SIGALRM guard, memory capped);
- every diagnostic names a file of the configuration and a line that exists in it (the top-level file's
  FATAL and the whole-configuration script-security notice excepted, as documented in errors.py);
- the exit status is one of keepalived 2.2.7's ``-t`` classes;
- run as ``pykeepalived -t`` (a few examples): no traceback, every stderr line is ``FILE:LINE: severity: ...``.

Example counts come from the Hypothesis profile (tests/conftest.py): ``ci`` by default, bounded to about a
minute; ``--hypothesis-profile soak`` (or HYPOTHESIS_PROFILE=soak) runs the long campaign.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.config import HostView, load_config
from pykeepalived.config.errors import Severity
from tests.config_kit import bounded

BOUND_S = 60  # per example, in-process; a normal example takes milliseconds
HOST = HostView(interfaces=frozenset({"eth0", "eth1"}), find_executable=lambda c: None,
                user_exists=lambda u: u == "root")
FILES = ("keepalived.conf", "a.conf", "b.conf", "sub/c.conf")
_FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                       HealthCheck.filter_too_much])

# -- values -----------------------------------------------------------------------------------------------
_ODD_NUMBERS = ["0", "1", "255", "256", "65535", "65536", "2147483647", "2147483648", "4294967296", "-1", "-0",
                "0x10", "0x", "010", "1.5", "0.000001", "1e3", "nan", "inf", "-inf", "٣", "²", "1_000", "+5",
                "9" * 5000, "1" * 30, ""]
NUMBER = st.one_of(st.integers(-300, 70000).map(str), st.sampled_from(_ODD_NUMBERS))
_ODD_ADDRESSES = ["10.0.0.1\x00", "10.0.\x00.1", "10.0.0.256", "1.2.3", "fe80::1%eth0", "::", "0.0.0.0",
                  "255.255.255.255", "1.2.3.4/33", "10.0.0.1-20", "fe80::/129", "10.0.0.1/-1", "224.0.0.18",
                  "ff02::12", "[::1]", "x" * 300]
ADDRESS = st.one_of(
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
    st.tuples(st.ip_addresses(), st.integers(0, 130)).map(lambda t: f"{t[0]}/{t[1]}"),
    st.sampled_from(_ODD_ADDRESSES),
)
NAME = st.sampled_from(["VI_1", "VI_2", "G1", "chk", "tf", "b1", "eth0", "eth1", "lo", "$N", "${N}", "$_INSTANCE",
                        '"a b"', "'q'", "x\\ty", "${_RANDOM 1 9}", "@main", "nosuch0"])
WORD = st.one_of(NAME, NUMBER, ADDRESS, st.text(max_size=8))


def kv(keyword: str, value: st.SearchStrategy[str] = WORD) -> st.SearchStrategy[str]:
    return value.map(lambda v: f"{keyword} {v}")


def block(head: st.SearchStrategy[str], items: list[st.SearchStrategy[str]], max_size: int = 6,
          ) -> st.SearchStrategy[str]:
    return st.tuples(head, st.lists(st.one_of(*items), max_size=max_size)).map(
        lambda t: t[0] + " {\n" + "".join(f" {line}\n" for line in t[1]) + "}")


def listing(keyword: str, item: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return block(st.just(keyword), [item], max_size=4)


def named(keyword: str) -> st.SearchStrategy[str]:
    return NAME.map(lambda n: f"{keyword} {n}")


VIP = st.tuples(ADDRESS, st.sampled_from(["", " dev eth0", " dev eth1 scope link", " label eth0:1", " brd +",
                                          " no_track", " dev", " bogus 1"])).map("".join)
GLOBAL_DEFS = block(st.just("global_defs"), [
    kv("router_id", NAME), kv("vrrp_mcast_group4", ADDRESS), kv("smtp_server", ADDRESS),
    kv("smtp_connect_timeout", NUMBER), kv("script_user", NAME), st.just("enable_script_security"),
    kv("vrrp_garp_master_delay", NUMBER), kv("lvs_timeouts", st.just("tcp 10 udp 5")), kv("dynamic_interfaces", WORD),
    listing("notification_email", NAME),
])
VRRP_SCRIPT = block(named("vrrp_script"), [
    kv("script", st.sampled_from(['"/bin/true"', '"/bin/sh -c \'exit 0\'"', "/nonexistent", '"/bin/tr\x00ue"'])),
    kv("interval", NUMBER), kv("weight", NUMBER), kv("fall", NUMBER), kv("rise", NUMBER), kv("timeout", NUMBER),
    kv("user", NAME),
])
AUTH = block(st.just("authentication"), [kv("auth_type", st.sampled_from(["PASS", "AH", "x"])),
                                         kv("auth_pass", WORD)])
VRRP_INSTANCE = block(named("vrrp_instance"), [
    kv("interface", NAME), kv("state", st.sampled_from(["MASTER", "BACKUP", "FAULT"])),
    kv("virtual_router_id", NUMBER), kv("priority", NUMBER), kv("advert_int", NUMBER), kv("version", NUMBER),
    kv("unicast_src_ip", ADDRESS), kv("unicast_ttl", NUMBER), kv("preempt_delay", NUMBER), st.just("nopreempt"),
    listing("virtual_ipaddress", VIP), listing("virtual_ipaddress_excluded", VIP),
    listing("unicast_peer", ADDRESS), listing("track_script", NAME), listing("track_interface", NAME),
    listing("virtual_routes", st.sampled_from(["10.1.0.0/16 via 10.0.0.1", "default via 10.0.0.254 dev eth0"])),
    AUTH, kv("notify_master", st.sampled_from(['"/bin/true a b"', "/x"])), kv("garp_master_delay", NUMBER),
], max_size=8)
SYNC_GROUP = block(named("vrrp_sync_group"), [listing("group", NAME), kv("notify", WORD)])
CHECKER = st.one_of(
    block(st.just("TCP_CHECK"), [kv("connect_timeout", NUMBER), kv("connect_port", NUMBER),
                                 kv("retry", NUMBER), kv("delay_before_retry", NUMBER)]),
    block(st.sampled_from(["HTTP_GET", "SSL_GET"]), [
        block(st.just("url"), [kv("path", WORD), kv("status_code", NUMBER), kv("digest", WORD)]),
        kv("nb_get_retry", NUMBER), kv("connect_timeout", NUMBER)]),
    block(st.just("MISC_CHECK"), [kv("misc_path", st.just('"/bin/true x"')), kv("misc_timeout", NUMBER)]),
    block(st.just("DNS_CHECK"), [kv("type", st.sampled_from(["A", "AAAA", "X"])), kv("name", WORD)]),
    block(st.sampled_from(["PING_CHECK", "UDP_CHECK", "SMTP_CHECK", "FILE_CHECK", "BFD_CHECK"]),
          [kv("payload", WORD), kv("weight", NUMBER), kv("name", NAME)]),
)
REAL_SERVER = block(st.tuples(ADDRESS, NUMBER).map(lambda t: f"real_server {t[0]} {t[1]}"), [
    kv("weight", NUMBER), kv("inhibit_on_failure", WORD), CHECKER, kv("notify_up", WORD),
])
VIRTUAL_SERVER = block(st.one_of(
    st.tuples(ADDRESS, NUMBER).map(lambda t: f"virtual_server {t[0]} {t[1]}"),
    NUMBER.map(lambda n: f"virtual_server fwmark {n}"), named("virtual_server group"),
), [kv("lb_algo", st.sampled_from(["rr", "wrr", "x"])), kv("lb_kind", st.sampled_from(["NAT", "DR", "TUN"])),
    kv("protocol", st.sampled_from(["TCP", "UDP", "SCTP", "x"])), kv("delay_loop", NUMBER),
    kv("persistence_timeout", NUMBER), kv("sorry_server", st.tuples(ADDRESS, NUMBER).map(" ".join)),
    kv("quorum", NUMBER), REAL_SERVER, REAL_SERVER], max_size=8)
VSG = block(named("virtual_server_group"), [st.tuples(ADDRESS, NUMBER).map(" ".join),
                                             NUMBER.map(lambda n: f"fwmark {n}")])
STATIC = st.one_of(
    listing("static_ipaddress", VIP),
    listing("static_routes", st.tuples(ADDRESS, st.sampled_from(["via 10.0.0.1", "dev eth0", "table", "metric x",
                                                                  "blackhole"]), NUMBER).map(" ".join)),
    listing("static_rules", st.tuples(st.sampled_from(["from", "to", "iif"]), ADDRESS, st.sampled_from(
        ["table", "lookup", "priority", "fwmark"]), NUMBER).map(" ".join)),
)
OTHER_BLOCKS = st.one_of(
    block(st.just("garp_group"), [kv("garp_interval", NUMBER), kv("interface", NAME), listing("interfaces", NAME)]),
    block(named("bfd_instance"), [kv("neighbor_ip", ADDRESS), kv("source_ip", ADDRESS), kv("min_rx", NUMBER),
                                  kv("multiplier", NUMBER), kv("max_hops", NUMBER)]),
    block(named("track_file"), [kv("file", WORD), kv("weight", NUMBER)]),
    block(st.just("SSL"), [kv("password", WORD), kv("ca", WORD)]),
    listing("linkbeat_interfaces", NAME),
)

# -- preprocessor constructs ------------------------------------------------------------------------------
INCLUDE_TARGET = st.sampled_from(["a.conf", "b.conf", "sub/*.conf", "{a,b}.conf", "keepalived.conf", "missing.conf",
                                  "/dev/zero", "/dev/null", "fifo", "dir", "exe.conf", "*.conf", "sub/{x,c}.conf",
                                  '"a.conf"', "{a,b}{a,b}{a,b}.conf", "/nonexistent/*.conf", "a.conf\x00"])
INCLUDE = st.tuples(st.sampled_from(["include", "includer", "includem", "includew", "includeb", "includea",
                                     "include_check", "include_check -readable"]),
                    st.lists(INCLUDE_TARGET, min_size=1, max_size=2)).map(lambda t: f"{t[0]} {' '.join(t[1])}")
MACRO_NAME = st.sampled_from(["N", "M", "X", "IF_MAIN", "_PWD"])
DEFINITION = st.one_of(
    st.tuples(MACRO_NAME, WORD).map(lambda t: f"${t[0]}={t[1]}"),
    st.tuples(MACRO_NAME, st.lists(st.one_of(WORD, VIP, st.just("$N $N")), min_size=1, max_size=3)).map(
        lambda t: f"${t[0]}=" + "\\\n".join(t[1])),
    st.just("$IF_MAIN=@main"), st.just("$M=$N $N"), st.just("$N=$M\\\n$M"),
)
REPEAT = st.tuples(st.sampled_from(["~SEQ(i,1,3)", "~SEQ(i,0,2,10)", "~SEQx(i,250,255)", "~LST(i,a,b)",
                                    "~LST({i,j},{1,2},{3,4})", "~SEQ(i,1,100000)", "~SEQ(i,3,1)", "~SEQ(i,0,0,3)",
                                    "~SEQ(i", "~SEQ(i,1," + "9" * 50 + ")"]),
                   st.sampled_from([" x $i", " 10.0.0.$i", " ${i}", " $N", " ~SEQ(j,1,3) y $j"])).map("".join)
CONDITIONAL = st.tuples(st.sampled_from(["@main ", "@^main ", "@other ", "$IF_MAIN ", "@", "@^"]),
                        st.one_of(WORD, st.just("priority 100"))).map("".join)
COMMENT = st.sampled_from(["# c", "! c", "x # y", '"#" a', "${_HASH} h", "${_BANG}"])
TOP_ITEM = st.one_of(GLOBAL_DEFS, VRRP_SCRIPT, VRRP_INSTANCE, SYNC_GROUP, VIRTUAL_SERVER, VSG, STATIC, OTHER_BLOCKS,
                     INCLUDE, DEFINITION, REPEAT, CONDITIONAL, COMMENT, WORD, st.just("$N"), st.just("}"),
                     st.just("{"))
FILE_TEXT = st.lists(TOP_ITEM, max_size=10).map(lambda items: "\n".join(items) + "\n")

# -- mutations on the rendered bytes ------------------------------------------------------------------------
_PAYLOADS = [b"\x00", b"{", b"}", b"{}", b'"', b"'", b"\\", b"$", b"${", b"@", b"~", b"\n", b"\r\n", b"\t",
             b"\xff\xfe", b"\xc3", b"#", b"!", b"include a.conf\n", b"$N=$N $N\n", b"9" * 100]


@dataclass(frozen=True)
class Mutation:
    kind: str  # delete | duplicate | insert | truncate
    at: float  # position as a fraction of the text
    span: int
    payload: bytes


MUTATION = st.builds(Mutation, st.sampled_from(["delete", "duplicate", "insert", "insert", "truncate"]),
                     st.floats(0, 1), st.integers(1, 40), st.sampled_from(_PAYLOADS))


def mutate(data: bytes, mutations: list[Mutation]) -> bytes:
    for m in mutations:
        k = int(m.at * len(data))
        if m.kind == "delete":
            data = data[:k] + data[k + m.span:]
        elif m.kind == "duplicate":
            data = data[:k] + data[k:k + m.span] * 2 + data[k + m.span:]
        elif m.kind == "insert":
            data = data[:k] + m.payload + data[k:]
        else:
            data = data[:k]
    return data


CONFIG_SET = st.tuples(
    st.lists(FILE_TEXT, min_size=len(FILES), max_size=len(FILES)),
    st.lists(st.lists(MUTATION, max_size=3), min_size=len(FILES), max_size=len(FILES)),
)


def write_config_set(d: Path, texts: list[str], mutations: list[list[Mutation]]) -> dict[str, bytes]:
    """The files of one example under ``d``, plus the odd neighbours includes may reach; {path: bytes}."""
    (d / "sub").mkdir()
    (d / "dir").mkdir()
    os.mkfifo(d / "fifo")
    exe = d / "exe.conf"
    exe.write_text("global_defs {\n router_id exe\n}\n")
    exe.chmod(0o755)
    written = {}
    for name, text, muts in zip(FILES, texts, mutations, strict=True):
        data = mutate(text.encode(), muts)
        (d / name).write_bytes(data)
        written[str(d / name)] = data
    return written


def check_result(d: Path, written: dict[str, bytes]) -> int:
    top = str(d / FILES[0])
    with bounded(BOUND_S, extra_bytes=2 << 30):
        r = load_config(top, config_id="main", host=HOST)
    for diag in r.diagnostics:
        loc = diag.location
        assert diag.message, diag
        if diag.severity == Severity.SECURITY and loc.file == "<config>":
            continue  # one statement about the whole configuration (errors.py)
        assert loc.file in written, diag
        if diag.severity == Severity.FATAL and loc.line == 0:
            assert loc.file == top, diag
            continue
        lines = written[loc.file].decode("utf-8", "replace").split("\n")
        assert 1 <= loc.line <= len(lines), diag
    assert r.exit_status in (0, 4, 5, 6)
    return r.exit_status


@_FUZZ
@given(CONFIG_SET)
def test_grammar_fuzz_in_process(config_set: tuple[list[str], list[list[Mutation]]]) -> None:
    texts, mutations = config_set
    with tempfile.TemporaryDirectory(prefix="pyka-fuzz-") as tmp:
        d = Path(tmp)
        check_result(d, write_config_set(d, texts, mutations))


@_FUZZ
@given(FILE_TEXT, st.lists(MUTATION, max_size=6))
def test_grammar_fuzz_single_file_heavier_mutation(text: str, mutations: list[Mutation]) -> None:
    with tempfile.TemporaryDirectory(prefix="pyka-fuzz-") as tmp:
        d = Path(tmp)
        check_result(d, write_config_set(d, [text, "", "", ""], [mutations, [], [], []]))


_STDERR_LINE = re.compile(r"^(<config>|/.+):(\d+): (notice|warning|error|missing_file|security|fatal): .+$")


@settings(_FUZZ, max_examples=6)
@given(CONFIG_SET)
def test_grammar_fuzz_config_test_process(config_set: tuple[list[str], list[list[Mutation]]]) -> None:
    """``pykeepalived -t`` as a user runs it: ends, no traceback, one ``FILE:LINE: severity:`` per line."""
    texts, mutations = config_set
    with tempfile.TemporaryDirectory(prefix="pyka-fuzz-") as tmp:
        d = Path(tmp)
        write_config_set(d, texts, mutations)
        p = subprocess.run([sys.executable, "-m", "pykeepalived.cli", "-t", "-f", str(d / FILES[0])],
                           capture_output=True, timeout=BOUND_S)
        err = p.stderr.decode("utf-8", "replace")
        assert p.returncode in (0, 4, 5, 6), err[-2000:]
        assert "Traceback" not in err
        for line in err.split("\n")[:-1]:  # control characters in messages are escaped: one line each
            assert _STDERR_LINE.match(line), line
