"""Bounded keepalived.conf input (issue 13, item 3): each hostile input ends quickly with a file:line diagnostic.

Every load runs under tests/config_kit.bounded (a time and address-space guard), so a regression fails here
instead of hanging the suite or exhausting the machine. The limits are in pykeepalived.config.preprocess and
pykeepalived.config.errors and listed in README's differences from keepalived.
"""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest

from pykeepalived.config import HostView, load_config
from pykeepalived.config import errors as E
from pykeepalived.config import preprocess as P
from pykeepalived.config.errors import Diagnostics, Location, Severity
from tests.config_kit import bounded

HOST = HostView(interfaces=frozenset({"eth0"}), find_executable=lambda c: None, user_exists=lambda u: False)
VI = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n"


def load(path: Path, seconds: float = 30, extra_bytes: int = 1 << 30):  # type: ignore[no-untyped-def]
    with bounded(seconds, extra_bytes):
        return load_config(str(path), config_id="main", host=HOST)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def messages_at(r, path: Path, line: int) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.message for d in r.diagnostics if d.location == Location(str(path), line)]


# -- includes: regular, non-executable files only (keepalived's check_conf_file) ----------------------------
@pytest.mark.parametrize("target", ["/dev/zero", "/dev/null", "/dev/urandom", "DIR"])
def test_include_of_a_device_or_directory_is_a_located_error(tmp_path: Path, target: str) -> None:
    target = str(tmp_path) if target == "DIR" else target
    f = write(tmp_path / "k.conf", f"include {target}\n{VI}")
    r = load(f)
    assert any("not a regular non-executable file" in m for m in messages_at(r, f, 1)), r.diagnostics
    assert r.exit_status == 5
    assert [i.name for i in r.config.vrrp_instances] == ["VI_1"]


def test_include_of_a_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    f = write(tmp_path / "k.conf", f"include {fifo}\nincluder {fifo}\n{VI}")
    r = load(f, seconds=10)
    assert any("not a regular" in m for m in messages_at(r, f, 1))
    assert any("not a regular" in m for m in messages_at(r, f, 2))
    assert r.exit_status == 6  # includer: a required file, keepalived 2.2.7's status 6


def test_include_of_an_executable_file_is_skipped_as_keepalived_does(tmp_path: Path) -> None:
    inc = write(tmp_path / "x.conf", "global_defs {\n router_id from_exec\n}\n")
    inc.chmod(0o755)
    f = write(tmp_path / "k.conf", f"include {inc}\n{VI}")
    r = load(f)
    assert any("not a regular non-executable file" in m for m in messages_at(r, f, 1))
    assert r.config.global_defs.router_id != "from_exec"


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_top_level_file_that_is_not_regular_cannot_run(tmp_path: Path, kind: str) -> None:
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    else:
        path = Path("/dev/zero") if kind == "device" else tmp_path
    r = load(path, seconds=10)
    assert r.exit_status == 4
    assert r.diagnostics[0].severity == Severity.FATAL and "not a regular" in r.diagnostics[0].message


def test_include_depth_is_bounded(tmp_path: Path) -> None:
    n = P.MAX_INCLUDE_DEPTH + 5
    for k in range(n):
        write(tmp_path / f"f{k}.conf", f"include f{k + 1}.conf\n")
    write(tmp_path / f"f{n}.conf", "global_defs {\n router_id deep\n}\n")
    r = load(tmp_path / "f0.conf")
    deepest = tmp_path / f"f{P.MAX_INCLUDE_DEPTH - 1}.conf"
    assert any("nested more than" in m for m in messages_at(r, deepest, 1)), r.diagnostics
    assert r.exit_status == 5


def test_include_fan_out_is_bounded(tmp_path: Path) -> None:
    """Each file includes the next one twice: 2^40 reads without a bound on included files."""
    for k in range(40):
        write(tmp_path / f"f{k}.conf", f"include f{k + 1}.conf\ninclude f{k + 1}.conf\n")
    write(tmp_path / "f40.conf", "x 1\n")
    r = load(tmp_path / "f0.conf")
    errors = [d for d in r.diagnostics if f"more than {P.MAX_INCLUDED_FILES} files" in d.message]
    assert errors and errors[0].location.line >= 1
    assert r.exit_status == 5


def test_brace_expansion_of_an_include_pattern_is_bounded(tmp_path: Path) -> None:
    f = write(tmp_path / "k.conf", "include " + "{a,b}" * 40 + ".conf\n" + VI)
    r = load(f)
    assert any("alternatives" in m for m in messages_at(r, f, 1)), r.diagnostics


# -- lines and macro expansion ----------------------------------------------------------------------------
def test_overlong_line_is_a_located_error_and_the_rest_is_read(tmp_path: Path) -> None:
    f = write(tmp_path / "k.conf", "global_defs {\n router_id " + "a" * (P.MAX_LINE_LENGTH + 1) + "\n}\n" + VI)
    r = load(f)
    assert any(f"longer than {P.MAX_LINE_LENGTH}" in m for m in messages_at(r, f, 2)), r.diagnostics
    assert [i.name for i in r.config.vrrp_instances] == ["VI_1"]


@pytest.mark.parametrize("extra", ["", "$X=1\n"])  # the plain-file path and the general one
def test_line_of_exactly_the_limit_is_read(tmp_path: Path, extra: str) -> None:
    f = write(tmp_path / "k.conf", extra + "bogus " + "a" * (P.MAX_LINE_LENGTH - 6) + "\n")
    r = load(f)
    assert [d.message[:23] for d in r.diagnostics] == ["Unknown keyword 'bogus'"]


@pytest.mark.parametrize("extra", ["", "$X=1\n"])
def test_a_lone_carriage_return_does_not_end_a_line(tmp_path: Path, extra: str) -> None:
    """Lines end at "\\n" only, as keepalived counts them (found by the grammar fuzzer: universal newlines)."""
    f = tmp_path / "k.conf"
    f.write_bytes((extra + "global_defs {\r\n router_id a\r\n}\r\nbogus\rmore\n" + VI).encode())
    r = load(f)
    bogus = [d for d in r.diagnostics if "bogus" in d.message]
    assert [d.location.line for d in bogus] == [4 + extra.count("\n")]
    assert r.config.global_defs.router_id == "a"


def test_overlong_line_in_a_file_with_macros(tmp_path: Path) -> None:
    f = write(tmp_path / "k.conf", "$X=1\nfoo " + "{}" * P.MAX_LINE_LENGTH + "\n" + VI)
    r = load(f)
    assert any(f"longer than {P.MAX_LINE_LENGTH}" in m for m in messages_at(r, f, 2)), r.diagnostics


def test_doubling_macros_on_one_line_stop_at_the_line_length(tmp_path: Path) -> None:
    text = ("$M0=x\n" + "".join(f"$M{i}=$M{i - 1} $M{i - 1}\n" for i in range(1, 41))
            + "global_defs {\n router_id $M40\n}\n")
    f = write(tmp_path / "k.conf", text)
    r = load(f, extra_bytes=512 << 20)
    assert any("longer than" in m for m in messages_at(r, f, 43)), r.diagnostics
    assert r.exit_status == 5


def test_doubling_multi_line_macros_stop_at_the_expansion_budget(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Each definition is two lines of the one before: 2^40 lines. The budget ends it (a smaller one here)."""
    monkeypatch.setattr(P, "EXPANSION_BUDGET", 1 << 20)
    text = "$M0=x\n" + "".join(f"$M{i}=$M{i - 1}\\\n$M{i - 1}\n" for i in range(1, 41)) + "global_defs {\n$M40\n}\n"
    f = write(tmp_path / "k.conf", text)
    r = load(f, extra_bytes=512 << 20)
    line = text.count("\n") - 1
    assert any("expansion budget" in m for m in messages_at(r, f, line)), r.diagnostics[-3:]
    assert r.exit_status == 5


def test_doubling_multi_line_macros_at_the_real_budget_stay_small(tmp_path: Path) -> None:
    """The same at the shipped budget: memory stays bounded while the budget is spent (lines stream)."""
    text = "$M0=x\n" + "".join(f"$M{i}=$M{i - 1}\\\n$M{i - 1}\n" for i in range(1, 41)) + "global_defs {\n$M40\n}\n"
    f = write(tmp_path / "k.conf", text)
    r = load(f, seconds=120, extra_bytes=512 << 20)
    assert any("expansion budget" in d.message for d in r.diagnostics)


def test_seq_output_counts_against_the_budget(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(P, "EXPANSION_BUDGET", 10_000)
    f = write(tmp_path / "k.conf", "~SEQ(i,1,100000) x $i\n")
    r = load(f)
    assert any("expansion budget" in m for m in messages_at(r, f, 1)), r.diagnostics[-3:]


# -- memory follows content, not braces -------------------------------------------------------------------
def _peak(path: Path) -> int:
    tracemalloc.start()
    try:
        load(path, seconds=120)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_of_a_file_of_braces_does_not_grow_with_the_braces(tmp_path: Path) -> None:
    small = write(tmp_path / "small.conf", "{}\n" * 50_000)
    big = write(tmp_path / "big.conf", "{}\n" * 200_000)
    # 600 kB of text; before: every brace a logical line and a diagnostic kept alive (~170 MB)
    assert _peak(big) < 16 << 20
    assert _peak(big) < 2 * _peak(small)


def test_memory_of_a_file_with_macros_streams(tmp_path: Path) -> None:
    """What is alive besides the model while a general-path file (one macro) loads: the text and one chunk."""
    body = "".join(f"real_server 10.1.{v // 250}.{v % 250} 80 {{\n weight $W\n}}\n" for v in range(40_000))
    f = write(tmp_path / "k.conf", "$W=1\nvirtual_server 10.0.0.1 80 {\n" + body + "}\n")
    tracemalloc.start()
    try:
        r = load(f, seconds=120)
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(len(v.real_servers) for v in r.config.virtual_servers) == 40_000
    # before: all 120,000 logical lines alive at once next to the model (~21 MB more than the model)
    assert peak - kept < 8 << 20


def test_diagnostics_are_capped_with_a_summary_that_keeps_the_worst(tmp_path: Path) -> None:
    d = Diagnostics()
    for k in range(E.MAX_DIAGNOSTICS + 50):
        d.warning(Location("f", k + 1), "w")
    d.add(Severity.MISSING_FILE, Location("f", 99_999), "m")
    items = d.collected()
    assert len(items) == E.MAX_DIAGNOSTICS + 1
    assert items[-1].severity == Severity.MISSING_FILE
    assert items[-1].location == Location("f", 99_999)
    assert items[-1].message.startswith("m (and 50 more problems not shown")
    assert E.exit_status(items) == 6


def test_a_file_of_braces_reports_each_problem_up_to_the_cap(tmp_path: Path) -> None:
    f = write(tmp_path / "k.conf", "{}\n" * (E.MAX_DIAGNOSTICS + 10))
    r = load(f)
    assert len(r.diagnostics) == E.MAX_DIAGNOSTICS + 1
    assert r.diagnostics[0].location == Location(str(f), 1)
    assert r.exit_status == 5


# -- values: never a traceback ----------------------------------------------------------------------------
HUGE = "9" * 5000


@pytest.mark.parametrize("text", [
    VI.replace("virtual_router_id 5", f"virtual_router_id {HUGE}"),
    VI.replace("virtual_router_id 5", "virtual_router_id 5\n priority " + HUGE),
    VI.replace("virtual_router_id 5", "virtual_router_id 5\n advert_int " + HUGE),
    f"virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.2 {HUGE} {{\n }}\n}}\n",
    f"virtual_server 10.0.0.1 {HUGE} {{\n}}\n",
    f"virtual_server fwmark {HUGE} {{\n}}\n",
    f"virtual_server 10.0.0.1 80 {{\n delay_loop {HUGE}\n real_server 10.0.0.2 80 {{\n  weight {HUGE}\n }}\n}}\n",
    f"static_rules {{\n from 10.0.0.0/8 table {HUGE} priority 100\n}}\n",
    f"static_routes {{\n 10.1.0.0/16 via 10.0.0.1 table {HUGE}\n}}\n",
    f"~SEQ(i,1,{HUGE}) x\n",
    f"x ${{_RANDOM 1 {HUGE}}}\n",
    f"bfd_instance b {{\n neighbor_ip 10.0.0.2\n min_rx {HUGE}\n}}\n",
    VI.replace("virtual_router_id 5", "virtual_router_id 5\n virtual_ipaddress {\n 10.0.0.2/" + HUGE + "\n }"),
])
def test_five_thousand_digit_integer_is_a_located_error(tmp_path: Path, text: str) -> None:
    f = write(tmp_path / "k.conf", text)
    r = load(f)
    assert r.exit_status in (0, 4, 5, 6), r.diagnostics
    assert all(d.location.file == str(f) and d.location.line >= 1 for d in r.diagnostics if d.severity >= 1)


@pytest.mark.parametrize("text", [
    VI.replace(" 10.0.0.1\n", " 10.0.0.1\x00\n"),
    VI.replace(" 10.0.0.1\n", " 10.0.\x00.1/24 dev eth0\n"),
    VI.replace(" 10.0.0.1\n", " fe80::\x001\n"),
    VI.replace("virtual_router_id 5", "virtual_router_id 5\n unicast_src_ip 10.0.0.9\x00\n unicast_peer {\n"
               " 10.0.0.\x0010\n }"),
    "virtual_server 10.0.0.1\x00 80 {\n}\n",
    "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2\x00 80 {\n }\n}\n",
    "virtual_server 10.0.0.1 80 {\n sorry_server 10.0.0.3\x00 80\n}\n",
    "static_ipaddress {\n 10.0.0.5\x00/24 dev eth0\n}\n",
    "static_routes {\n 10.1.0.0/16 via 10.0.0.1\x00\n}\n",
    "include /tmp/x\x00y.conf\n" + VI,
    'vrrp_script c {\n script "/bin/tr\x00ue"\n}\n',
    "global_defs {\n router_id a\x00b\n smtp_server 10.0.0.1\x00\n vrrp_mcast_group4 224.0.0.\x0018\n}\n",
])
def test_nul_byte_is_a_located_error(tmp_path: Path, text: str) -> None:
    f = tmp_path / "k.conf"
    f.write_bytes(text.encode())
    r = load(f)
    assert r.exit_status in (0, 5, 6), r.diagnostics
    assert all(d.location.file == str(f) for d in r.diagnostics if d.severity >= 1)


def test_invalid_utf8_is_read_with_replacement(tmp_path: Path) -> None:
    f = tmp_path / "k.conf"
    f.write_bytes(b"global_defs {\n router_id \xff\xfe\n}\n" + VI.encode())
    r = load(f)
    assert r.exit_status == 0 and r.config.global_defs.router_id == "\ufffd\ufffd"

