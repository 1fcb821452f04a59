"""Preprocessor: includes, @ID conditionals, $NAME parameters, built-ins, ~SEQ / ~SEQx / ~LST."""

from __future__ import annotations

from pathlib import Path

from pykeepalived.config import HostView, PreprocessOptions, load_config
from pykeepalived.config.errors import Diagnostics, Severity
from pykeepalived.config.preprocess import Preprocessor, brace_expand

CONFIGS = Path(__file__).parent / "configs"
HOST = HostView(
    interfaces=frozenset({"eth0", "eth1"}), find_executable=lambda c: None, user_exists=lambda u: False
)


def lines_of(tmp_path: Path, text: str, config_id: str = "main", **kw: object) -> list[list[str]]:
    f = tmp_path / "k.conf"
    f.write_text(text)
    d = Diagnostics()
    return [w for w, _ in Preprocessor(d, PreprocessOptions(config_id=config_id, **kw)).run(str(f))]  # type: ignore[arg-type]


def test_conditionals_keep_lines_for_matching_id(tmp_path: Path) -> None:
    text = "@main router_id a\n@backup router_id b\n@^main x 1\n@^backup y 2\n"
    assert lines_of(tmp_path, text, "main") == [["router_id", "a"], ["y", "2"]]
    assert lines_of(tmp_path, text, "backup") == [["router_id", "b"], ["x", "1"]]


def test_parameters_recursive_and_late_bound(tmp_path: Path) -> None:
    text = ("$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n"
            "$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n$P=240\npriority $P\nuse $P.x\n")
    assert lines_of(tmp_path, text) == [["10.2.0.100/32"], ["10.2.10.100/32"], ["priority", "240"],
                                        ["use", "$P.x"]]


def test_undefined_parameter_is_left_verbatim(tmp_path: Path) -> None:
    # keepalived then splits the braces of ${UNDEF} like any other braces
    assert lines_of(tmp_path, "keep ${UNDEF}x\n") == [["keep", "$", "{"], ["UNDEF"], ["}"], ["x"]]


def test_parameter_holding_a_conditional(tmp_path: Path) -> None:
    text = "$IF_MAIN=@main\n$IF_MAIN priority 240\n"
    assert lines_of(tmp_path, text, "main") == [["priority", "240"]]
    assert lines_of(tmp_path, text, "other") == []


def test_builtins(tmp_path: Path) -> None:
    text = "a ${_HASH}x ${_BANG}y ${_INSTANCE}\nb ${_PWD}\nc ${_RANDOM 5 5}\nd ${_ENV HOME_X}\n"
    got = lines_of(tmp_path, text, "node7", env={"HOME_X": "/h"})
    assert got == [["a", "#x", "!y", "node7"], ["b", str(tmp_path)], ["c", "5"], ["d", "/h"]]


def test_multiline_macro_with_parameters_and_conditionals() -> None:
    r = load_config(str(CONFIGS / "macros.conf"), config_id="high", host=HOST)
    insts = {i.name: i for i in r.config.vrrp_instances}
    assert sorted(insts) == ["VI_1", "VI_2"]
    assert insts["VI_2"].virtual_router_id == 2
    assert insts["VI_2"].virtual_ipaddress[0].address == "10.0.2.254"
    assert insts["VI_1"].priority == 130
    r2 = load_config(str(CONFIGS / "macros.conf"), config_id="low", host=HOST)
    assert {i.priority for i in r2.config.vrrp_instances} == {120}
    assert r.exit_status == 0, r.diagnostics


def test_seq_seqx_lst() -> None:
    r = load_config(str(CONFIGS / "seq.conf"), host=HOST)
    addrs = [v.address for v in r.config.vrrp_instances[0].virtual_ipaddress]
    assert addrs[:4] == ["10.0.0.1", "10.0.1.1", "10.0.2.1", "10.0.3.1"]
    assert addrs[4:8] == ["fe80::20:90:1", "fe80::20:a0:1", "fe80::20:b0:1", "fe80::20:c0:1"]
    assert addrs[8:] == ["192.168.10.1", "192.168.20.4"]
    # mixing families in virtual_ipaddress is an error keepalived reports too
    assert any("mixes IPv4 and IPv6" in d.message for d in r.diagnostics)


def test_nested_seq_counts(tmp_path: Path) -> None:
    got = lines_of(tmp_path, "~SEQ(A,0,2) ~SEQ(B,1,3) x${A}.${B}\n")
    assert len(got) == 9 and got[0] == ["x0.1"] and got[-1] == ["x2.3"]


def test_seq_errors_have_locations(tmp_path: Path) -> None:
    f = tmp_path / "k.conf"
    f.write_text("\n~SEQ(A,0,0,5) x\n~SEQ(1bad,3) y\n")
    d = Diagnostics()
    Preprocessor(d).run(str(f))
    assert [(x.location.line, x.severity) for x in d.items] == [(2, Severity.ERROR), (3, Severity.ERROR)]


def test_includes_glob_braces_relative_nested_and_checks() -> None:
    r = load_config(str(CONFIGS / "include_main.conf"), host=HOST)
    names = [i.name for i in r.config.vrrp_instances]
    assert names == ["VI_A", "VI_LEAF", "VI_ONE", "VI_TWO"]
    leaf = r.config.vrrp_instances[1]
    assert leaf.location.file.endswith("nested/leaf.conf") and leaf.location.line == 1
    errs = [d for d in r.diagnostics if d.severity >= Severity.WARNING]
    assert len(errs) == 1 and "missing.conf" in errs[0].message and errs[0].location.line == 6


def test_plain_include_of_missing_file_is_silent(tmp_path: Path) -> None:
    f = tmp_path / "k.conf"
    f.write_text("include nothere.conf\nincluder nothere2.conf\n")
    d = Diagnostics()
    Preprocessor(d).run(str(f))
    assert [x.severity for x in d.items] == [Severity.NOTICE, Severity.NOTICE]


def test_include_loop_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "k.conf"
    f.write_text("include k.conf\n")
    d = Diagnostics()
    Preprocessor(d).run(str(f))
    assert d.worst() == Severity.ERROR


def test_brace_expand() -> None:
    assert brace_expand("a{b,c{d,e}}f") == ["abf", "acdf", "acef"]
    assert brace_expand("x{y}z") == ["x{y}z"]
