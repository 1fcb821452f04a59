"""genhash: keepalived's flags, and the digest it prints is the one HTTP_GET compares (genhash(1))."""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path

import pytest

from checkers.core.spec import CheckSpec, HttpProbe, Target, Timing, UrlSpec
from checkers.io.genhash import Request, main, parse
from checkers.io.probes import run_probe
from netns_lab.servers import Route, closed_port, http_server, self_signed, server_tls

BODY = b"<html>genhash me</html>\n"
GENHASH = Path(sys.executable).parent / "genhash"


async def genhash(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(str(GENHASH), *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


def test_genhash_prints_the_md5_http_get_compares() -> None:
    async def go() -> None:
        async with http_server("127.0.0.1", {"/index.html": Route(200, BODY)}) as port:
            code, out, _ = await genhash("-s", "127.0.0.1", "-p", str(port), "-u", "/index.html")
            assert code == 0
            assert out == hashlib.md5(BODY).hexdigest() + "\n"
            spec = CheckSpec("k", "HTTP_GET", Target("127.0.0.1", port),
                             HttpProbe((UrlSpec("/index.html", digest=out.strip()),)), Timing(connect_timeout=1))
            assert (await run_probe(spec)).ok
    asyncio.run(go())


def test_genhash_over_tls_with_sni_and_virtualhost(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path, "www.example")
    seen: list[str] = []

    async def go() -> None:
        async with http_server("::1", {"/": Route(200, BODY)}, tls=server_tls(cert, key, seen)) as port:
            code, out, err = await genhash("--use-ssl", "-I", "-V", "www.example", "-s", "::1", "-p", str(port),
                                           "-u", "/", "-v")
            assert code == 0, err
            assert out.splitlines()[-1] == hashlib.md5(BODY).hexdigest()
            assert "HTTP status 200" in out
    asyncio.run(go())
    assert seen == ["www.example"]


def test_genhash_connection_refused_is_a_message_and_status_1() -> None:
    async def go() -> tuple[int, str, str]:
        return await genhash("-s", "127.0.0.1", "-p", str(closed_port("127.0.0.1")), "-u", "/", "-t", "1")
    code, out, err = asyncio.run(go())
    assert code == 1 and out == "" and "failed" in err and "Traceback" not in err


@pytest.mark.parametrize(("argv", "message"), [
    (["-s", "example.com", "-p", "80", "-u", "/"], "server should be an IP, not example.com"),
    (["-s", "127.0.0.1", "-p", "http", "-u", "/"], "invalid port number 'http'"),
    (["-s", "127.0.0.1", "-p", "80", "-u", "/", "-P", "2"], "invalid HTTP protocol version '2'"),
    (["-s", "127.0.0.1", "-p", "80", "-u", "/", "-t", "0"], "invalid timeout '0'"),
    (["-s", "127.0.0.1", "-p", "80", "-u", "/", "-m", "x"], "invalid fwmark 'x'"),
    (["-s", "127.0.0.1", "-p", "80"], "missing --url"),
    (["-s", "127.0.0.1", "-p", "80", "-u", "/", "--hash", "sha1"], "option --hash not recognized"),
    (["-s", "127.0.0.1", "-p", "80", "-u", "/", "extra"], "Unexpected argument(s): extra"),
])
def test_genhash_bad_flags_are_refused_with_usage(argv: list[str], message: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(message + "\n") and "Usage: genhash" in err


def test_genhash_parses_keepalived_long_and_short_flags() -> None:
    assert parse(["--server", "10.0.0.1", "--port", "443", "--url", "/x", "--use-ssl", "--use-sni",
                  "--use-virtualhost", "h", "--fwmark", "3", "--protocol", "1.0c", "--timeout", "2.5",
                  "--verbose"]) == Request("10.0.0.1", 443, "/x", True, True, "h", 3, "1.0c", 2.5, True)
    assert parse(["-h"]) is None


def test_genhash_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-h"]) == 0
    assert "--use-virtualhost" in capsys.readouterr().err


