"""Invariants of the real-server pool over any sequence of check verdicts (Hypothesis): a server is alive exactly
while none of its checks is down; quorum flips only across the hysteresis thresholds; the sorry server stands
in exactly while quorum is lost; the members are what keepalived's table holds in each case."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from checkers.core.machine import LogLine, Verdict
from checkers.core.pool import Pool, RealServerSpec, SorrySpec, VirtualServerSpec

servers = st.lists(st.tuples(st.integers(0, 5), st.booleans(), st.integers(1, 2)), min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(rs=servers, quorum=st.integers(1, 8), hysteresis=st.integers(0, 3), sorry=st.sampled_from([None, False, True]),
       events=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 1), st.booleans()), max_size=40))
def test_pool_invariants(rs: list[tuple[int, bool, int]], quorum: int, hysteresis: int, sorry: bool | None,
                         events: list[tuple[int, int, bool]]) -> None:
    specs = tuple(RealServerSpec(f"r{i}", f"[10.0.0.{i}]:tcp:80", w, inh, checks=tuple(f"r{i}c{j}" for j in range(n)))
                  for i, (w, inh, n) in enumerate(rs))
    vs = VirtualServerSpec("vs", "VS", specs, quorum, hysteresis,
                           sorry=None if sorry is None else SorrySpec("s", "S", 1, sorry))
    pool = Pool([vs])
    pool.start()
    check_up = {c: True for s in specs for c in s.checks}
    was_up = pool.quorum_up("vs")
    for i, j, up in events:
        spec = specs[i % len(specs)]
        key = spec.checks[j % len(spec.checks)]
        before = {s.key: pool.alive("vs", s.key) for s in specs}
        out = pool.on_check(Verdict(key, up))
        check_up[key] = up
        alive = {s.key: all(check_up[c] for c in s.checks) for s in specs}
        assert {s.key: pool.alive("vs", s.key) for s in specs} == alive
        flips = sum(before[k] != alive[k] for k in alive)
        moves = [m for m in (a.message for a in out if isinstance(a, LogLine)) if " service [" in m]
        assert len(moves) == flips  # one Adding/Removing/Enabling/Disabling line per real server that flipped
        live = sum(s.weight for s in specs if alive[s.key])
        now_up = pool.quorum_up("vs")
        if now_up and not was_up:
            assert live >= quorum + hysteresis
        if was_up and not now_up:
            assert live == 0 or live < quorum - hysteresis
        was_up = now_up
        members = {(m.key, m.weight) for m in pool.members("vs")}
        inhibited_zero = {(s.key, 0) for s in specs if s.inhibit}
        if sorry is not None and not now_up:
            assert members == {("s", 1)} | inhibited_zero
        else:
            want = {(s.key, s.weight) for s in specs if alive[s.key]}
            want |= {(s.key, 0) for s in specs if s.inhibit and not alive[s.key]}
            if sorry:
                want.add(("s", 0))
            assert members == want
