"""Diagnostics for keepalived.conf: every problem carries the file and line it came from.

keepalived reports a config problem and carries on; ``-t`` turns the worst problem seen into an exit
status. We keep the same shape: parsing never raises on bad input, it records a :class:`Diagnostic`,
and :func:`exit_status` maps the collection to keepalived 2.2.7's config-test exit codes.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import NamedTuple


class Location(NamedTuple):
    """Origin of a token: the file it was read from and its 1-based line number.

    A NamedTuple (not a dataclass) because one is created per config line and the benchmark
    config has a quarter of a million lines.
    """

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


NO_LOCATION = Location("<command line>", 0)


class Severity(enum.IntEnum):
    """How bad a diagnostic is, ordered by how much it affects keepalived's -t verdict."""

    NOTICE = 0  # informational, verdict unchanged (keepalived's log_message)
    WARNING = 1  # e.g. unknown keyword: reported and skipped, keepalived still runs (exit 5)
    ERROR = 2  # invalid value: reported, value ignored or defaulted, keepalived still runs (exit 5)
    MISSING_FILE = 3  # a config file that must exist does not (includem/includer..., exit 6 like 2.2.7)
    SECURITY = 4  # scripts would run as root without enable_script_security (exit 6)
    FATAL = 5  # the configuration cannot run at all (exit 4)


# keepalived 2.2.7 `enum exit_code` (core/main.h). keepalived(8) numbers these one lower
# (it omits KEEPALIVED_EXIT_PROGRAM_ERROR); the binary Debian ships is the oracle, so we follow it.
EXIT_OK = 0
EXIT_NO_MEMORY = 1
EXIT_PROGRAM_ERROR = 2
EXIT_FATAL = 3
EXIT_CONFIG = 4
EXIT_CONFIG_TEST = 5
EXIT_CONFIG_TEST_SECURITY = 6


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape_control(m: re.Match[str]) -> str:
    return f"\\x{ord(m.group()):02x}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One reported problem, printed as ``FILE:LINE: severity: message``."""

    severity: Severity
    location: Location
    message: str

    def __str__(self) -> str:
        """One line: control characters a config can carry (a NUL, an escaped newline) are shown escaped."""
        text = f"{self.location}: {self.severity.name.lower()}: {self.message}"
        return _CONTROL.sub(_escape_control, text) if _CONTROL.search(text) else text


class ConfigError(Exception):
    """Raised inside a keyword handler for an invalid value; the parser records it and continues.

    Never escapes the public API: :func:`pykeepalived.config.load_config` turns it into a Diagnostic.
    """

    def __init__(self, message: str, severity: Severity = Severity.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.severity = severity


#: Diagnostics kept in full; past this many, only their count, first location and worst severity are kept. A file
#: of 16 million braces makes as many problems (keepalived 2.2.7 logs each, for ten minutes); the first ten
#: thousand say what is wrong, and memory stays proportional to the configuration's content.
MAX_DIAGNOSTICS = 10_000


class Diagnostics:
    """Collector passed through every stage (preprocessor, parser, validator).

    ``items`` holds the first :data:`MAX_DIAGNOSTICS`; :meth:`collected` adds one summary for the rest: the
    first of the worst among them (its severity keeps the exit status the one every problem would give, and a
    limit hit after a flood of warnings is still shown) with the count of those not shown.
    """

    __slots__ = ("_worst_dropped", "dropped", "items")

    def __init__(self) -> None:
        self.items: list[Diagnostic] = []
        self.dropped = 0
        self._worst_dropped: Diagnostic | None = None

    def add(self, severity: Severity, location: Location, message: str) -> None:
        if len(self.items) < MAX_DIAGNOSTICS:
            self.items.append(Diagnostic(severity, location, message))
            return
        self.dropped += 1
        if self._worst_dropped is None or severity > self._worst_dropped.severity:
            self._worst_dropped = Diagnostic(severity, location, message)

    def collected(self) -> list[Diagnostic]:
        """Every kept diagnostic, then the summary of those past the cap (if any)."""
        worst = self._worst_dropped
        if worst is None:
            return list(self.items)
        summary = Diagnostic(worst.severity, worst.location,
                             f"{worst.message} (and {self.dropped - 1} more problems not shown: at most "
                             f"{MAX_DIAGNOSTICS} are listed)")
        return [*self.items, summary]

    def notice(self, location: Location, message: str) -> None:
        self.add(Severity.NOTICE, location, message)

    def warning(self, location: Location, message: str) -> None:
        self.add(Severity.WARNING, location, message)

    def error(self, location: Location, message: str) -> None:
        self.add(Severity.ERROR, location, message)

    def fatal(self, location: Location, message: str) -> None:
        self.add(Severity.FATAL, location, message)

    def worst(self) -> Severity | None:
        return max((d.severity for d in self.collected()), default=None)


def exit_status(diagnostics: list[Diagnostic]) -> int:
    """keepalived 2.2.7's ``-t`` status as the Debian binary returns it.

    Fatal -> 4; a script security violation or a missing required config file -> 6 (2.2.7 returns 6 for
    both, observed); any other reported problem -> 5.
    """
    worst = max((d.severity for d in diagnostics), default=Severity.NOTICE)
    if worst >= Severity.FATAL:
        return EXIT_CONFIG
    if worst >= Severity.MISSING_FILE:
        return EXIT_CONFIG_TEST_SECURITY
    if worst >= Severity.WARNING:
        return EXIT_CONFIG_TEST
    return EXIT_OK
