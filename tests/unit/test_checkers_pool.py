"""The virtual-server manager's pure part: verdicts -> members, with keepalived's quorum/hysteresis, sorry
server, inhibit_on_failure, dynamic weights, notify scripts and log lines (check/ipwrapper.c)."""

from __future__ import annotations

import pytest

from checkers.core.machine import LogLine, Verdict, WeightChanged
from checkers.core.pool import (
    FifoLine,
    Member,
    Pool,
    PoolAction,
    RealServerSpec,
    RunScript,
    Script,
    SorrySpec,
    TableChanged,
    VirtualServerSpec,
    real_weight,
)

VS = "[10.0.0.1]:tcp:80"
UP, DOWN, QUP, QDOWN = Script(("/bin/up",)), Script(("/bin/down",)), Script(("/bin/qup",)), Script(("/bin/qdown",))


def rs(n: int, weight: int = 1, inhibit: bool = False, checks: int = 1, alpha: bool = False) -> RealServerSpec:
    keys = tuple(f"rs{n}.c{i}" for i in range(checks))
    return RealServerSpec(f"rs{n}", f"[10.0.1.{n}]:tcp:80", weight, inhibit, UP, DOWN, keys,
                          keys if alpha else ())


def pool(*servers: RealServerSpec, **vs: object) -> Pool:
    p = Pool([VirtualServerSpec("vs", VS, servers, **vs)])  # type: ignore[arg-type]
    p.start()
    return p


def logs(actions: list[PoolAction]) -> list[str]:
    return [a.message for a in actions if isinstance(a, LogLine)]


def scripts(actions: list[PoolAction]) -> list[str]:
    return [a.script.argv[0] for a in actions if isinstance(a, RunScript)]


def members(p: Pool) -> set[tuple[str, int]]:
    return {(m.key, m.weight) for m in p.members("vs")}


def test_failed_server_is_removed_then_added_back_with_keepalived_words() -> None:
    p = pool(rs(1), rs(2))
    assert members(p) == {("rs1", 1), ("rs2", 1)}
    out = p.on_check(Verdict("rs1.c0", False))
    assert logs(out) == [f"Removing service [10.0.1.1]:tcp:80 from VS {VS}"]
    assert scripts(out) == ["/bin/down"]
    assert TableChanged("vs") in out
    assert members(p) == {("rs2", 1)}
    out = p.on_check(Verdict("rs1.c0", True))
    assert logs(out) == [f"Adding service [10.0.1.1]:tcp:80 to VS {VS}"]
    assert scripts(out) == ["/bin/up"]
    assert members(p) == {("rs1", 1), ("rs2", 1)}


def test_inhibit_on_failure_keeps_the_server_at_weight_zero() -> None:
    p = pool(rs(1, weight=3, inhibit=True), rs(2))
    out = p.on_check(Verdict("rs1.c0", False))
    assert logs(out) == [f"Disabling service [10.0.1.1]:tcp:80 of VS {VS}"]
    assert members(p) == {("rs1", 0), ("rs2", 1)}
    assert logs(p.on_check(Verdict("rs1.c0", True))) == [f"Enabling service [10.0.1.1]:tcp:80 of VS {VS}"]
    assert members(p) == {("rs1", 3), ("rs2", 1)}


def test_a_server_is_in_only_while_no_check_has_failed() -> None:
    p = pool(rs(1, checks=2), rs(2))
    p.on_check(Verdict("rs1.c0", False))
    assert logs(p.on_check(Verdict("rs1.c1", False))) == []
    assert logs(p.on_check(Verdict("rs1.c0", True))) == []  # c1 still failed
    assert ("rs1", 1) not in members(p)
    assert logs(p.on_check(Verdict("rs1.c1", True))) == [f"Adding service [10.0.1.1]:tcp:80 to VS {VS}"]
    assert ("rs1", 1) in members(p)


def test_quorum_with_hysteresis_and_quorum_scripts() -> None:
    p = pool(rs(1), rs(2), rs(3), rs(4), quorum=3, hysteresis=1, quorum_up=QUP, quorum_down=QDOWN)
    assert p.quorum_up("vs")
    assert logs(p.on_check(Verdict("rs1.c0", False)))[1:] == []  # 3 >= 3-1
    assert logs(p.on_check(Verdict("rs2.c0", False)))[1:] == []  # 2 >= 3-1
    out = p.on_check(Verdict("rs3.c0", False))
    assert logs(out)[1:] == [f"Lost quorum 3-1=2 > 1 for VS {VS}"]
    assert scripts(out) == ["/bin/down", "/bin/qdown"]
    assert not p.quorum_up("vs")
    assert members(p) == {("rs4", 1)}  # no sorry server: the live ones keep serving
    assert logs(p.on_check(Verdict("rs1.c0", True)))[1:] == []  # 2 < 3+1
    assert logs(p.on_check(Verdict("rs2.c0", True)))[1:] == []  # 3 < 3+1
    out = p.on_check(Verdict("rs3.c0", True))
    assert logs(out)[1:] == [f"Gained quorum 3+1=4 <= 4 for VS {VS}"]
    assert scripts(out) == ["/bin/up", "/bin/qup"]


def test_sorry_server_takes_over_when_quorum_is_lost_and_leaves_when_regained() -> None:
    sorry = SorrySpec("sorry", "[10.0.9.9]:tcp:80")
    p = pool(rs(1), rs(2, inhibit=True), sorry=sorry, quorum_up=QUP, quorum_down=QDOWN)
    p.on_check(Verdict("rs1.c0", False))
    out = p.on_check(Verdict("rs2.c0", False))
    assert logs(out) == [f"Disabling service [10.0.1.2]:tcp:80 of VS {VS}",
                         f"Lost quorum 1-0=1 > 0 for VS {VS}",
                         f"Adding sorry server [10.0.9.9]:tcp:80 to VS {VS}",
                         f"Removing alive servers from the pool for VS {VS}"]
    assert scripts(out) == ["/bin/down", "/bin/qdown"]
    assert members(p) == {("rs2", 0), ("sorry", 1)}
    out = p.on_check(Verdict("rs1.c0", True))
    assert logs(out) == [f"Adding service [10.0.1.1]:tcp:80 to VS {VS}",
                         f"Gained quorum 1+0=1 <= 1 for VS {VS}",
                         f"Removing sorry server [10.0.9.9]:tcp:80 from VS {VS}",
                         f"Adding alive servers to the pool for VS {VS}"]
    assert scripts(out) == ["/bin/up", "/bin/qup"]
    assert members(p) == {("rs1", 1), ("rs2", 0)}


def test_sorry_server_inhibit_keeps_it_at_weight_zero_when_unused() -> None:
    sorry = SorrySpec("sorry", "[10.0.9.9]:tcp:80", inhibit=True)
    p = pool(rs(1), sorry=sorry)
    assert members(p) == {("rs1", 1), ("sorry", 0)}
    out = p.on_check(Verdict("rs1.c0", False))
    assert f"Enabling sorry server [10.0.9.9]:tcp:80 to VS {VS}" in logs(out)
    assert members(p) == {("sorry", 1)}
    out = p.on_check(Verdict("rs1.c0", True))
    assert f"Disabling sorry server [10.0.9.9]:tcp:80 from VS {VS}" in logs(out)
    assert members(p) == {("rs1", 1), ("sorry", 0)}


def test_alpha_servers_start_out_and_the_pool_starts_without_quorum() -> None:
    p = Pool([VirtualServerSpec("vs", VS, (rs(1, alpha=True), rs(2, alpha=True)),
                                sorry=SorrySpec("sorry", "[10.0.9.9]:tcp:80"), quorum_down=QDOWN)])
    out = p.start()
    assert logs(out) == [f"Starting with quorum down 1-0=1 > 0 for VS {VS}",
                         f"Adding sorry server [10.0.9.9]:tcp:80 to VS {VS}",
                         f"Removing alive servers from the pool for VS {VS}"]
    assert scripts(out) == ["/bin/qdown"]
    assert members(p) == {("sorry", 1)}
    assert scripts(p.on_check(Verdict("rs1.c0", False, changed=False))) == ["/bin/down"]  # first-run confirmation
    assert members(p) == {("sorry", 1)}
    p.on_check(Verdict("rs2.c0", True))
    assert members(p) == {("rs2", 1)}


def test_alpha_inhibited_server_is_in_at_weight_zero_from_the_start() -> None:
    p = pool(rs(1, weight=5, inhibit=True, alpha=True), rs(2))
    assert members(p) == {("rs1", 0), ("rs2", 1)}


def test_dynamic_weights_change_the_member_weight_and_the_quorum() -> None:
    p = pool(rs(1, weight=2), rs(2), quorum=4)
    assert not p.quorum_up("vs")  # 2 + 1 < 4
    out = p.on_check(WeightChanged("rs1.c0", 5))
    assert logs(out) == [f"Changing weight from 2 to 5 for active service [10.0.1.1]:tcp:80 of VS {VS}",
                         f"Gained quorum 4+0=4 <= 6 for VS {VS}"]
    assert members(p) == {("rs1", 5), ("rs2", 1)}
    assert p.quorum_up("vs")
    out = p.on_check(WeightChanged("rs1.c0", 0))
    assert logs(out) == [f"Changing weight from 5 to 0 for active service [10.0.1.1]:tcp:80 of VS {VS}",
                         f"Lost quorum 4-0=4 > 1 for VS {VS}"]
    assert p.on_check(WeightChanged("rs1.c0", 0)) == []  # unchanged: nothing
    p.on_check(WeightChanged("rs1.c0", None))
    assert members(p) == {("rs1", 2), ("rs2", 1)}


def test_file_check_offsets_add_to_the_weight_and_clamp_at_zero() -> None:
    p = pool(rs(1, weight=10), rs(2))
    p.on_check(WeightChanged("rs1.c0", None, offset=-4))
    assert ("rs1", 6) in members(p)
    p.on_check(WeightChanged("rs1.c0", None, offset=-40))
    assert ("rs1", 0) in members(p)
    assert real_weight(2**40) == 2**31 - 1


def test_weight_change_of_a_dead_server_does_not_touch_the_table() -> None:
    p = pool(rs(1), rs(2))
    p.on_check(Verdict("rs1.c0", False))
    out = p.on_check(WeightChanged("rs1.c0", 9))
    assert logs(out) == [f"Changing weight from 1 to 9 for inactive service [10.0.1.1]:tcp:80 of VS {VS}"]
    assert TableChanged("vs") not in out


def test_shutdown_runs_down_notifiers_only_with_omega() -> None:
    plain = pool(rs(1), quorum_down=QDOWN)
    out = plain.shutdown()
    assert logs(out) == [f"Shutting down service [10.0.1.1]:tcp:80 from VS {VS}"] and scripts(out) == []
    omega = pool(rs(1), rs(2), quorum_down=QDOWN, omega=True)
    omega.on_check(Verdict("rs2.c0", False))
    assert scripts(omega.shutdown()) == ["/bin/down", "/bin/qdown"]  # rs2 was already down: notified then


def test_fifo_lines_in_keepalived_format() -> None:
    p = pool(rs(1), rs(2), sorry=SorrySpec("sorry", "[10.0.9.9]:tcp:80"))

    def fifo(out: list[PoolAction]) -> list[str]:
        return [a.line for a in out if isinstance(a, FifoLine)]

    assert fifo(p.on_check(Verdict("rs1.c0", False))) == [f"RS [10.0.1.1]:tcp:80 {VS} DOWN\n"]
    assert fifo(p.on_check(Verdict("rs2.c0", False))) == [f"RS [10.0.1.2]:tcp:80 {VS} DOWN\n", f"VS {VS} DOWN\n"]
    assert fifo(p.on_check(Verdict("rs2.c0", True))) == [f"RS [10.0.1.2]:tcp:80 {VS} UP\n", f"VS {VS} UP\n"]
    assert fifo(pool(rs(1)).shutdown()) == []  # without omega nothing is notified at shutdown
    assert fifo(pool(rs(1), omega=True).shutdown()) == [f"RS [10.0.1.1]:tcp:80 {VS} DOWN\n", f"VS {VS} DOWN\n"]


def test_unknown_check_and_repeated_verdicts_are_ignored() -> None:
    p = pool(rs(1))
    assert p.on_check(Verdict("nope", False)) == []
    assert p.on_check(Verdict("rs1.c0", True)) == []


def test_duplicate_virtual_servers_or_checks_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        Pool([VirtualServerSpec("vs", VS), VirtualServerSpec("vs", VS)])
    with pytest.raises(ValueError, match="attached twice"):
        Pool([VirtualServerSpec("vs", VS, (rs(1), rs(1)))])


def test_members_carry_the_sorry_flag() -> None:
    p = pool(rs(1), sorry=SorrySpec("sorry", "s"))
    p.on_check(Verdict("rs1.c0", False))
    assert p.members("vs") == (Member("sorry", 1, sorry=True),)
