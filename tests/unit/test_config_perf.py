"""The speed-ups in pykeepalived.config must not change what is built.

Each fast path has a plain twin kept as its oracle; these tests run both on the same input and
require identical results (objects, every field, diagnostics).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.config import HostView, PreprocessOptions
from pykeepalived.config.build import Builder
from pykeepalived.config.errors import Diagnostics
from pykeepalived.config.model import KeepalivedConfig
from pykeepalived.config.parser import Parser
from pykeepalived.config.preprocess import Preprocessor
from pykeepalived.config.reader import BlockReader

CONFIGS = Path(__file__).parent / "configs"
SAMPLES = Path("/usr/share/doc/keepalived/samples")
HOST = HostView(interfaces=frozenset({"eth0", "eth1"}), find_executable=lambda c: None, user_exists=lambda u: False)

# One line each, placed at virtual server, real server or checker level by the generator below.
_TIMING = ("connect_timeout 7", "retry 4", "delay_before_retry 2.5", "warmup 3", "alpha", "delay_loop 12")
_CHECKERS = {
    "TCP_CHECK": "connect_port 81",
    "HTTP_GET": "url {\n path /\n status_code 200\n }",
    "SSL_GET": "",  # no url: an error diagnostic from both paths
    "SMTP_CHECK": "helo_name x",
    "DNS_CHECK": "type A\n name example.com",
    "MISC_CHECK": "misc_path \"/bin/true a\"\n user nobody",
    "UDP_CHECK": "payload 0a0b",
    "PING_CHECK": "",
    "FILE_CHECK": "track_file f\n weight 5",
    "BFD_CHECK": "name b",
}


def _inheritance_config() -> str:
    """Virtual servers covering each timing key at each level, every checker kind, extras and notify scripts."""
    out = ["global_defs {\n router_id t\n}\ntrack_file f {\n file /tmp/f\n}\n"]
    combos = itertools.product(_CHECKERS.items(), (None, *_TIMING), (None, *_TIMING), (None, "delay_loop 3", "retry 0"))
    for n, ((kind, body), t_vs, t_rs, t_ck) in enumerate(combos, 1):
        a, b = divmod(n, 250)
        out.append(f"virtual_server 10.{a}.{b}.1 80 {{\n lb_algo rr\n lb_kind DR\n protocol TCP\n")
        out.append(f" {t_vs}\n inhibit_on_failure\n" if t_vs else "")
        out.append(f" real_server 10.9.{a}.{b} 80 {{\n weight 3\n")
        out.append(f"  {t_rs}\n" if t_rs else "")
        out.append("  notify_up /bin/true\n snmp_name rs\n" if n % 7 == 0 else "")
        out.append(f"  {kind} {{\n   {body}\n")
        out.append(f"   {t_ck}\n" if t_ck else "")
        out.append("  }\n")
        out.append("  TCP_CHECK {\n  }\n" if n % 5 == 0 else "")
        out.append(" }\n real_server 10.8.0.1 81 {\n lvs_method NAT\n alpha\n }\n}\n")
    return "".join(out)


def _build(path: str, fast_paths: bool) -> tuple[KeepalivedConfig, list[str]]:
    diags = Diagnostics()
    pre = Preprocessor(diags, PreprocessOptions(config_id="main", env={}, random_seed=1))
    top = Parser(BlockReader(pre.run(path), diags), diags).run()
    cfg = Builder(top, diags, HOST, fast_paths=fast_paths).build(tuple(pre.files))
    return cfg, [str(d) for d in diags.items]


def _assert_same(path: str) -> None:
    fast, fast_diags = _build(path, True)
    plain, plain_diags = _build(path, False)
    assert fast == plain
    assert fast_diags == plain_diags
    for vf, vp in zip(fast.virtual_servers, plain.virtual_servers, strict=True):
        for rf, rp in zip(vf.real_servers, vp.real_servers, strict=True):
            assert vars(rf) == vars(rp)
            for cf, cp in zip(rf.checkers, rp.checkers, strict=True):
                assert vars(cf) == vars(cp)


def test_fast_build_equals_plain_build_on_inheritance_matrix(tmp_path: Path) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text(_inheritance_config())
    cfg, _ = _build(str(f), True)
    assert sum(len(rs.checkers) for vs in cfg.virtual_servers for rs in vs.real_servers) > 500
    _assert_same(str(f))


@pytest.mark.parametrize("path", sorted(str(p) for p in CONFIGS.glob("*.conf")), ids=lambda p: Path(p).name)
def test_fast_build_equals_plain_build_on_test_configs(path: str) -> None:
    _assert_same(path)


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="keepalived's sample configs are not installed")
def test_fast_build_equals_plain_build_on_keepalived_samples() -> None:
    samples = sorted(p for p in SAMPLES.iterdir() if p.is_file() and p.name.startswith("keepalived.conf"))
    assert samples
    for p in samples:
        _assert_same(str(p))


@pytest.mark.parametrize("text", ["0", "1", "007", "10", "59", "60", "65535", "65536", "86400", "86401",
                                  "2147483647", "2147483648", "99999999999999999999", "1.5", "0x10", "-1",
                                  "1e3", "nan", "inf", " 5", "٣", "²", ""])
def test_numeric_handler_fast_path_equals_values_module(text: str) -> None:
    """h_int/h_float store plain decimals directly; anything they store must be what to_int/to_float give."""
    from pykeepalived.config.errors import ConfigError, Location
    from pykeepalived.config.parser import h_float, h_int
    from pykeepalived.config.values import to_float, to_int

    for handler, convert, lo, hi in ((h_int, to_int, 0, 65535), (h_int, to_int, 1, 2**31 - 1),
                                     (h_float, to_float, 0.000001, 86400.0), (h_float, to_float, 0, 86400 * 365)):
        ctx: dict[str, object] = {}
        try:
            expected: object = convert(text, lo, hi, "f")  # type: ignore[operator]
        except ConfigError as e:
            expected = e.message
        try:
            handler("f", lo, hi)(None, ctx, [text], Location("t", 1), False)  # type: ignore[operator, arg-type]
            got: object = ctx["f"]
        except ConfigError as e:
            got = e.message
        assert got == expected and type(got) is type(expected)


# -- streaming: Preprocessor.stream feeds the parser in chunks; chunk edges must not change anything ----
_STREAM_LINES = ["virtual_server 10.0.0.1 80 {", "real_server 10.0.1.1 80 {", "TCP_CHECK {", "}", "{", "weight 2",
                 "connect_timeout 3", "bogus", "bogus {", "lb_algo rr", "protocol TCP", "delay_loop 5", "",
                 "global_defs {", "router_id x", "vrrp_instance V {", "virtual_ipaddress {", "10.0.0.9",
                 "interface eth0", "virtual_router_id 7", "real_server 10.0.1.2 {", "HTTP_GET {", "url {",
                 "path /", "virtual_server_group G {", "10.1.0.1 80", "weight", "} }", "a { b } c"]


def _parse(path: str, chunk_lines: int | None, monkeypatch: pytest.MonkeyPatch) -> tuple[object, list[str]]:
    """Parse ``path`` whole (``chunk_lines=None``, Preprocessor.run) or streamed in chunks of that many lines."""
    from pykeepalived.config import preprocess

    diags = Diagnostics()
    pre = Preprocessor(diags, PreprocessOptions(config_id="main", env={}, random_seed=1))
    if chunk_lines is None:
        reader = BlockReader(pre.run(path), diags)
    else:
        monkeypatch.setattr(preprocess, "CHUNK_LINES", chunk_lines)
        chunks = pre.stream(path)
        reader = BlockReader(next(chunks, []), diags, more=chunks)
    top = Parser(reader, diags).run()
    return top, [str(d) for d in diags.items]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(st.sampled_from(_STREAM_LINES), max_size=40), chunk=st.integers(1, 6))
def test_streamed_parse_equals_whole_parse(lines: list[str], chunk: int, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text("\n".join(lines))
    whole = _parse(str(f), None, monkeypatch)
    assert _parse(str(f), chunk, monkeypatch) == whole


def test_streamed_parse_equals_whole_parse_on_a_generated_config(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "keepalived.conf"
    f.write_text("".join(f"virtual_server 10.0.0.{v} 80 {{\n lb_algo rr\n lb_kind NAT\n protocol TCP\n" +
                         "".join(f" real_server 10.1.{v}.{r} 80 {{\n  weight 1\n  TCP_CHECK {{\n   connect_timeout 3\n"
                                 "  }\n }\n" for r in range(1, 7)) + "}\n" for v in range(1, 8)))
    whole = _parse(str(f), None, monkeypatch)
    for chunk in (1, 2, 3, 5, 64):
        assert _parse(str(f), chunk, monkeypatch) == whole
