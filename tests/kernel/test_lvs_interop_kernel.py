"""Interop in the real kernel (UML): keepalived 2.2.7's checker process (``keepalived -C``) and ours, on the same
config and the same live and dead real servers, settle on the same IPVS table (``ipvsadm -Ln``, byte for byte),
and both take their services away on exit. Two sets of live servers in one boot
(``tests/kernel/lvs_targets.py:interop``)."""

from __future__ import annotations

import pytest

from netns_lab.uml import run_in_kernel

pytestmark = pytest.mark.kernel


def test_keepalived_and_our_checker_process_settle_on_the_same_ipvs_table() -> None:
    run = run_in_kernel("tests.kernel.lvs_targets:interop", {"minimum": 6.0, "stable": 3.0}, timeout=300)
    assert run.returncode == 0, run.output
    result = run.result
    assert isinstance(result, dict) and set(result) == {"live rs1,rs3,rs9", "live rs2,rs9"}
    for live, sides in result.items():
        theirs, ours = sides["keepalived"], sides["ours"]
        assert ours["table"] == theirs["table"], f"{live}:\n--- keepalived\n{theirs['table']}--- ours\n{ours['table']}"
        assert "10.2.9.2:80" in ours["table"]  # quorum lost on :443 -> the sorry server, in both
        assert " 0      0          0" in ours["table"]  # an inhibited destination at weight 0, in both
        for side in (theirs, ours):
            assert "10.1.0.100" not in side["after"]
    assert "-> 10.2.1.2:80                  Masq    3" in result["live rs1,rs3,rs9"]["ours"]["table"]
    assert "10.2.1.2" not in result["live rs2,rs9"]["ours"]["table"]
