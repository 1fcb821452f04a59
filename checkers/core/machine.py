"""One health check's retry state machine, with keepalived's semantics (check_tcp.c ``tcp_epilog``,
ipwrapper.c ``update_svr_checker_state``), sans-IO: events in with an explicit ``now``, actions out.

The rules, as keepalived applies them to every checker:

* A check starts ``BOOTSTRAP_DELAY`` plus a random share of ``warmup`` (delay_loop by default) after start.
* Without ``alpha`` a check starts *up* and its first failure is enough to mark it down (keepalived sets the
  retry counter to ``retry`` at start). With ``alpha`` it starts *down* and one success marks it up.
* While up, a failure is retried ``retry`` times, ``delay_before_retry`` apart; only when the first attempt and
  all retries failed does the check go down. While down there are no retries: one probe per ``delay_loop``.
* After any verdict the next probe is ``delay_loop`` after the end of the previous one.
* A disabled check (``ha_suspend`` while the VIP is not here) keeps its timer but runs no probe.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from checkers.core.spec import BOOTSTRAP_DELAY, CheckSpec, ProbeResult


@dataclass(frozen=True)
class RunProbe:
    """Run the probe of ``key`` now, with its hard timeout, and report the outcome with ``on_result``.
    ``attempt`` is 0 for a regular run and n for the n-th retry. ``due`` is when the probe was due (its
    deadline), so the shell can measure how late it really starts; it is a measurement, not part of what the
    action asks, hence left out of equality."""

    key: str
    attempt: int
    due: float = field(default=0.0, compare=False)


@dataclass(frozen=True)
class Verdict:
    """The check's verdict. ``changed`` False is keepalived's first-run confirmation of an unchanged state
    (an ``alpha`` check whose first probe failed): notifiers run, the pool does not change."""

    key: str
    up: bool
    changed: bool = True


@dataclass(frozen=True)
class WeightChanged:
    """A dynamic weight changed: ``weight`` replaces the configured one (None: keep it; MISC_CHECK
    misc_dynamic), ``offset`` is added to it (FILE_CHECK)."""

    key: str
    weight: int | None
    offset: int = 0


@dataclass(frozen=True)
class LogLine:
    """A line for the daemon's log, in keepalived's words."""

    key: str
    message: str


Action = RunProbe | Verdict | WeightChanged | LogLine


#: keepalived's words per checker: (success line, name in the failure line) - check_tcp.c, check_http.c, ...
_WORDS = {
    "TCP_CHECK": ("TCP connection to {} success.", "TCP_CHECK"),
    "HTTP_GET": ("Remote Web server {} succeed on service.", "HTTP_CHECK"),
    "SSL_GET": ("Remote Web server {} succeed on service.", "SSL_CHECK"),
    "SMTP_CHECK": ("Remote SMTP server {} succeed on service.", "SMTP_CHECK"),
    "UDP_CHECK": ("UDP connection to {} success.", "UDP_CHECK"),
    "PING_CHECK": ("ICMP connection to {} success.", "ICMP CHECK"),
}


def _success_text(spec: CheckSpec) -> str:
    words = _WORDS.get(spec.kind)
    return words[0].format(spec.name) if words else f"{spec.kind} on service {spec.name} success."


def _failure_text(spec: CheckSpec, after_retries: bool) -> str:
    label = _WORDS.get(spec.kind, ("", spec.kind))[1]
    tail = f" after {spec.timing.retry} retries." if after_retries else "."
    return f"{label} on service {spec.name} failed{tail}"


class CheckMachine:
    """The state of one check. ``deadline`` is when it next wants :meth:`on_timer` (None while a probe runs)."""

    def __init__(self, spec: CheckSpec) -> None:
        self.spec = spec
        self.is_up = not spec.timing.alpha
        self.has_run = False
        self.retry_it = spec.timing.retry  # "one failure is enough initially" (check_data.c)
        self.enabled = True
        self.in_flight = False
        self.weight: tuple[int | None, int] = (None, 0)
        self.deadline: float | None = None

    def start(self, now: float, warmup_fraction: float) -> list[Action]:
        """Schedule the first probe; ``warmup_fraction`` in [0, 1] is the caller's random draw (seeded in
        tests), so the machine itself stays deterministic."""
        if not 0.0 <= warmup_fraction <= 1.0:
            raise ValueError(f"warmup_fraction must be in [0, 1], not {warmup_fraction}")
        self.deadline = now + BOOTSTRAP_DELAY + self.spec.timing.warmup_span * warmup_fraction
        return []

    def set_enabled(self, enabled: bool) -> list[Action]:
        """ha_suspend: a disabled check keeps ticking at delay_loop but probes nothing and keeps its verdict."""
        self.enabled = enabled
        return []

    def on_timer(self, now: float) -> list[Action]:
        if self.deadline is None or now < self.deadline or self.in_flight:
            return []
        if not self.enabled:
            self.deadline = now + self.spec.timing.delay_loop
            return []
        due, self.deadline = self.deadline, None
        self.in_flight = True
        attempt = self.retry_it if self.is_up and self.has_run else 0
        return [RunProbe(self.spec.key, attempt, due)]

    def on_result(self, now: float, result: ProbeResult) -> list[Action]:
        """The probe finished (passed, failed or hit its hard timeout) at ``now``."""
        if not self.in_flight:
            raise RuntimeError(f"check {self.spec.key}: result without a running probe")
        self.in_flight = False
        timing = self.spec.timing
        actions: list[Action] = []
        new_weight = (result.weight, result.weight_offset) if result.ok else (None, 0)
        if new_weight != self.weight:
            self.weight = new_weight
            actions.append(WeightChanged(self.spec.key, *new_weight))
        if not result.ok and self.is_up and self.spec.log_all_failures and result.reason:
            actions.append(LogLine(self.spec.key, f"{result.reason} {self.spec.name}."))
        delay = timing.delay_loop
        if result.ok or ((self.is_up or not self.has_run) and self.retry_it >= timing.retry):
            self.retry_it = 0
            if result.ok and (not self.is_up or not self.has_run):
                actions.append(LogLine(self.spec.key, _success_text(self.spec)))
                actions.extend(self._update(True))
            elif not result.ok and (self.is_up or not self.has_run):
                actions.append(LogLine(self.spec.key, _failure_text(self.spec, bool(timing.retry and self.has_run))))
                actions.extend(self._update(False))
        elif self.is_up:
            delay = timing.delay_before_retry
            self.retry_it += 1
        self.has_run = True
        self.deadline = now + delay
        return actions

    def _update(self, alive: bool) -> list[Action]:
        if self.is_up == alive:
            if not self.has_run and (self.spec.timing.alpha or not alive):
                return [Verdict(self.spec.key, alive, changed=False)]
            return []
        self.is_up = alive
        return [Verdict(self.spec.key, alive)]
