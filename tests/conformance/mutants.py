"""Discrimination record for the codec tests: each mutant breaks one rule in a copy of vrrp/core/packet.py, and the
codec tests must fail against it ("a test that cannot fail is a defect").  Run by hand, not in CI (~1 min):

    .venv/bin/python tests/conformance/mutants.py

Each mutant runs the codec's conformance, unit and property tests with the mutated copy first on
``sys.path`` (a temporary directory; the work tree is never touched) and is reported "killed" (some test
failed) or "SURVIVED".  Exit status 1 if any survived.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = [
    "tests/conformance/test_codec_format.py",
    "tests/conformance/test_codec_checksum.py",
    "tests/conformance/test_codec_auth.py",
    "tests/unit/test_packet.py",
    "tests/property/test_packet_properties.py",
]

# (what the mutant breaks, text in vrrp/core/packet.py, replacement)
MUTANTS: list[tuple[str, str, str]] = [
    ("19/25 v2 checksum not verified", "if total % 0xFFFF:", "if False:"),
    ("11 type not checked", "if vt & 0x0F != TYPE_ADVERTISEMENT:", "if False:"),
    ("17 reserved bits read as interval", "interval_cs = ((b4 & 0x0F) << 8) | b5", "interval_cs = (b4 << 8) | b5"),
    ("16 count 0 accepted", "if count == 0:", "if False:"),
    ("24 any trailing bytes accepted", "n + (_IPV4_HEADER_LEN if width == 4 else 40) > ETH_MIN_PAYLOAD", "False"),
    (
        "19 RFC 5798 form not accepted on receive",
        'elif verifies(total + pseudo_sum(_addr_int(src, 4, "src"), _addr_int(dst, 4, "dst"), expected)):',
        "elif False:",
    ),
    (
        "19/24 RFC 5798 pseudo-header length counts the Ethernet padding",
        'pseudo_sum(_addr_int(src, 4, "src"), _addr_int(dst, 4, "dst"), expected)',
        'pseudo_sum(_addr_int(src, 4, "src"), _addr_int(dst, 4, "dst"), n)',
    ),
    ("v2-auth unknown auth type accepted", "if auth_type > AUTH_AH:", "if False:"),
    ("v2-advert-int interval 0 accepted", "if b5 == 0:", "if False:"),
    ("v2-pass password not compared", "not hmac.compare_digest(adv.auth_data, pass_auth_data(auth_data))", "False"),
    (
        "19 IPv6 sent without pseudo-header",
        "if adv.version == 3 and (width == 16 or form == CHECKSUM_RFC5798):",
        "if adv.version == 3 and form == CHECKSUM_RFC5798:",
    ),
    ("24 padding included in the checksum", "msg = data if n == expected else data[:expected]", "msg = data"),
    (
        "v2-families v2 over IPv6 accepted",
        "if width != 4:\n            raise PacketError(Reason.VERSION",
        "if False:\n            raise PacketError(Reason.VERSION",
    ),
    ("21 strict link-local check ignored", "if require_link_local_first and not", "if False and not"),
    ("18 interval 4096 encoded", "if not 1 <= adv.interval_cs <= 4095:", "if not 1 <= adv.interval_cs <= 8191:"),
    ("12 VRID 0 encoded", "if adv.vrid not in VRIDS:", "if adv.vrid not in range(0, 256):"),
    (
        "12 VRID 0 decoded",
        "if vrid not in VRIDS:\n        raise PacketError(Reason.VRID",
        "if False:\n        raise PacketError(Reason.VRID",
    ),
]


def run_mutant(old: str, new: str) -> bool:
    """True when the tests fail against the mutant (it is killed)."""
    source = (ROOT / "vrrp" / "core" / "packet.py").read_text()
    if old not in source:
        raise SystemExit(f"mutant target not found in vrrp/core/packet.py: {old!r} (update MUTANTS)")
    with tempfile.TemporaryDirectory(prefix="codec-mutant-") as tmp:
        shutil.copytree(ROOT / "vrrp", Path(tmp) / "vrrp")
        (Path(tmp) / "vrrp" / "core" / "packet.py").write_text(source.replace(old, new, 1))
        env = {**os.environ, "PYTHONPATH": tmp}
        cmd = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
               "-c", str(ROOT / "pyproject.toml"), *(str(ROOT / t) for t in TESTS)]  # fmt: skip
        # cwd = the mutant's directory: ``python -m`` puts the cwd first on sys.path, ahead of the work tree.
        result = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True, check=False)
    return result.returncode != 0


def main() -> int:
    survived = 0
    for what, old, new in MUTANTS:
        killed = run_mutant(old, new)
        survived += not killed
        print(f"{'killed  ' if killed else 'SURVIVED'}  {what}")
    print(f"{len(MUTANTS) - survived}/{len(MUTANTS)} mutants killed")
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
