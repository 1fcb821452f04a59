"""A script keyword's argv is split with keepalived's rules (vrrp.io.scripts.split_words), not shlex: the config
model and the daemon that runs the script must agree word for word."""

from __future__ import annotations

from pathlib import Path

import pytest

from pykeepalived.config import HostView, load_config
from vrrp.io.scripts import parse_script

CASES = [
    r"/bin/check 'a b' c",
    r'/bin/check "a\tb"',
    r"/bin/check 'it\'s'",
    r"/bin/check \x41",
]


@pytest.mark.parametrize("command", CASES)
def test_vrrp_script_argv_matches_the_daemons_split(tmp_path: Path, command: str) -> None:
    conf = tmp_path / "keepalived.conf"
    escaped = command.replace("\\", "\\\\").replace('"', '\\"')
    conf.write_text(f'vrrp_script chk {{\n    script "{escaped}"\n}}\n')
    host = HostView(interfaces=frozenset({"eth0"}), find_executable=lambda _: True, user_exists=lambda _: True)
    result = load_config(str(conf), host=host)
    (script,) = result.config.vrrp_scripts
    assert script.script is not None
    assert list(script.script.argv) == parse_script(script.script.command)
    assert script.script.argv[0] == "/bin/check"
