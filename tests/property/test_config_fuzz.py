"""Hypothesis fuzzing of the whole config pipeline: never a traceback, every diagnostic has a location."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.cli import main
from pykeepalived.config import HostView, load_config

HOST = HostView(interfaces=frozenset({"eth0"}), find_executable=lambda c: None, user_exists=lambda u: False)

_WORDS = st.sampled_from([
    "{", "}", '"', "'", "\\", "#", "!", "vrrp_instance", "VI_1", "virtual_server", "10.0.0.1", "80",
    "real_server", "TCP_CHECK", "HTTP_GET", "url", "path", "interface", "eth0", "virtual_router_id", "300",
    "priority", "-1", "global_defs", "router_id", "include", "includea", "x.conf", "*.conf", "{a,b}.conf",
    "@main", "@^main", "$X=", "$X", "${X}", "${_RANDOM 1 9}", "~SEQ(i,1,3)", "~SEQ(i,0,0,3)", "~LST(a,1,2)",
    "~LST({a,b},{1,2})", "\\x41", "virtual_ipaddress", "unicast_peer", "lb_algo", "lb_kind", "DR", "rr",
    "track_script", "vrrp_script", "script", "weight", "fwmark", "group", "virtual_server_group", "$Y=\\",
    "advert_int", "1.5", "nan", "inf", "0x10", "authentication", "auth_type", "AH", "state", "MASTER",
])
_LINE = st.lists(st.one_of(_WORDS, st.text(max_size=6)), max_size=8).map(" ".join)
_CONFIG = st.lists(_LINE, max_size=25).map("\n".join)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(main_text=_CONFIG, inc_text=_CONFIG)
def test_parser_never_raises_and_locates_every_problem(main_text: str, inc_text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "x.conf").write_text(inc_text)
        (Path(d) / "a.conf").write_text("include x.conf\n" + inc_text)
        f = Path(d) / "keepalived.conf"
        f.write_text(main_text)
        r = load_config(str(f), config_id="main", host=HOST)
        for diag in r.diagnostics:
            assert diag.location.file and diag.message
            if diag.message.startswith("SECURITY"):
                continue
            assert diag.location.line >= 1, diag
        assert r.exit_status in (0, 4, 5, 6)


@settings(max_examples=30, deadline=None)
@given(text=_CONFIG)
def test_cli_dump_never_raises(text: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "keepalived.conf"
        f.write_text(text)
        assert main(["-t", "-d", "-i", "main", "-f", str(f)]) in (0, 4, 5, 6)


_PLAIN = st.lists(st.lists(st.sampled_from(["{", "}", "a", "b{", "}c", "x{y}", "# c", "! c", "1", "\t", "{}"]),
                           max_size=6).map(" ".join), max_size=20).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(text=_PLAIN)
def test_whole_file_fast_path_matches_general_path(text: str) -> None:
    """The fast path for plain files is an optimisation only: same logical lines, same origins."""
    from pykeepalived.config.errors import Diagnostics
    from pykeepalived.config.preprocess import Preprocessor, is_simple, simple_chunks

    assert is_simple(text)
    fast = [line for chunk in simple_chunks("f", text) for line in chunk]
    slow = Preprocessor(Diagnostics())
    slow_lines = [line for chunk in slow._lines("f", text) for line in chunk] + slow.out
    assert fast == slow_lines
