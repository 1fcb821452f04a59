"""Preprocessor: includes, ``@ID`` conditionals, ``$NAME`` parameters, ``~SEQ``/``~LST`` repetition.

The output is a flat list of logical lines ``(words, Location)``; ``{`` ends a line and ``}`` is a
line of its own (lexer.split_lines), so the parser never deals with physical layout. The order of
processing follows keepalived's ``lib/parser.c``: comments are stripped first, ``include`` is
recognised before conditionals and parameters (so ``@id include`` does not work, as man5 says),
then ``@``/``@^``, then definitions, then sequence blocks, then substitution. Substituted text is
fed back through the same steps, which gives recursive expansion, ``$IF_MAIN=@main`` tricks and
multi-line definitions holding further definitions.
"""

from __future__ import annotations

import errno
import io
import os
import re
import socket
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import Diagnostics, Location, Severity
from .lexer import LexError, split_lines, split_words, strip_comment

if TYPE_CHECKING:
    import random

Line = tuple[list[str], Location]
Chunks = Iterator[list[Line]]

INCLUDE_KEYWORDS = {
    "include": frozenset(),
    "includer": frozenset({"readable"}),
    "includem": frozenset({"readable", "match"}),
    "includew": frozenset({"readable", "match", "wildcard_match"}),
    "includeb": frozenset({"readable", "brace_match"}),
    "includea": frozenset({"readable", "match", "wildcard_match", "brace_match"}),
}
_INCLUDE_CHECKS = ("readable", "match", "wildcard_match", "brace_match")

_DEFINITION = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)=(.*)\Z", re.DOTALL)
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:\s+([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)(?=\s|\Z)")
_SEQ = re.compile(r"~(SEQx?|LST)\(")

_SPECIAL_CHARS = ("$", "@", "~", '"', "'", "\\")
_INCLUDE_LINE = re.compile(r"^[ \t]*include", re.M)
_COMMENT_TO_EOL = re.compile(r"[#!][^\n]*")

# -- input limits (README, "Differences from keepalived"): each is far above what a real configuration needs and
# turns a hostile or broken input into a file:line error instead of a hang or unbounded memory.
MAX_DEPTH = 64  # $NAME substitution nesting before we call it a recursive definition
MAX_REPEAT = 1_000_000  # ~SEQ/~LST lines generated from one line (the man page example makes 65 024)
#: characters in one line, as read or after $NAME substitution. keepalived 2.2.7 reads lines into a fixed buffer
#: and cuts longer ones into pieces; its longest useful line is a few kilobytes.
MAX_LINE_LENGTH = 65_536
MAX_INCLUDE_DEPTH = 32  # files open inside each other through include (the top-level file is the first)
MAX_INCLUDED_FILES = 10_000  # files read through include in one configuration (a loop of fan-out stops here)
MAX_INCLUDE_PATTERNS = 1_024  # file names one {a,b} brace pattern of an include expands to
MAX_INPUT_CHARS = 256 << 20  # characters read from all files together (5x the largest benchmark configuration)
#: What $NAME substitution and ~SEQ/~LST may generate beyond the text read: every generated line costs its length
#: plus EXPANSION_LINE_COST (a short line costs the parser as much as a long one). 64 Mi units is ~1 million
#: generated lines; a configuration may generate EXPANSION_PER_INPUT_CHAR times its own size on top.
EXPANSION_BUDGET = 64 << 20
EXPANSION_PER_INPUT_CHAR = 16
EXPANSION_LINE_COST = 64

REFUSED_FILE = "not a regular non-executable file"  # keepalived 2.2.7's words for what it skips


class RefusedFile(OSError):
    """A configuration file that is not a regular, non-executable file (a device, FIFO, directory, script)."""


class _Exhausted(Exception):
    """Raised inside a substitution whose result would overrun the expansion budget."""


def default_config_id() -> str:
    """keepalived's default config id: the first label of the host name."""
    return socket.gethostname().split(".")[0]


@dataclass
class PreprocessOptions:
    """Inputs that change what the preprocessor produces (config id, environment, randomness)."""

    config_id: str = field(default_factory=default_config_id)
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    random_seed: int | None = None


CHUNK_LINES = 4096  # logical lines per list from Preprocessor.stream


def is_simple(text: str) -> bool:
    """True for a file without macros, conditionals, quotes, escapes or includes: just words and braces."""
    for ch in _SPECIAL_CHARS:  # one C-speed scan per character beats one regex over the text
        if ch in text:
            return False
    return not ("include" in text and _INCLUDE_LINE.search(text))


def too_long(diags: Diagnostics | None, loc: Location, length: int, what: str = "line") -> None:
    if diags is not None:
        diags.error(loc, f"{what} is {length} characters, longer than {MAX_LINE_LENGTH} - ignoring it")


def simple_chunks(path: str, text: str, size: int = CHUNK_LINES,
                  diags: Diagnostics | None = None) -> Iterator[list[Line]]:
    """The logical lines of a file :func:`is_simple` accepts, ``size`` physical lines' worth at a time.

    Generated configs (the scale keepalived users reach) are like this; comments are removed with one
    regex over the whole text and each line is then just ``str.split``, brace splitting only where a
    brace shares a line with something else than its keyword. Same lines as the general path
    (tests/property/test_config_fuzz.py). A line longer than :data:`MAX_LINE_LENGTH` is reported to
    ``diags`` and left out.
    """
    if "#" in text or "!" in text:
        text = _COMMENT_TO_EOL.sub("", text)
    chunk: list[Line] = []
    append = chunk.append
    new = tuple.__new__
    i = 0
    cut = size
    # StringIO hands out one line at a time (split at "\n" only, like text.split("\n")), at C speed: the file's
    # lines are never all alive at once next to their words, which keeps peak memory down.
    for line in io.StringIO(text, newline="\n"):
        i += 1
        if i > cut:
            cut += size
            if chunk:
                yield chunk
                chunk = []
                append = chunk.append
        if len(line) > MAX_LINE_LENGTH and len(line.rstrip("\n")) > MAX_LINE_LENGTH:
            too_long(diags, Location(path, i), len(line.rstrip("\n")))
            continue
        words = line.split()
        if not words:
            continue
        loc = new(Location, (path, i))
        if "{" in line or "}" in line:
            if (words[-1] == "{" and line.count("{") == 1 and "}" not in line) if len(words) > 1 \
                    else words[0] in ("{", "}"):
                append((words, loc))
            else:
                for w in split_lines(line.replace("{", " { ").replace("}", " } ").split()):
                    append((w, loc))
        else:
            append((words, loc))
    if chunk:
        yield chunk


class Preprocessor:
    """Turns a config file (and everything it includes) into logical lines with origins.

    The work is done by generators that append to ``self.out`` and hand it over (:meth:`_take`) each time it
    holds :data:`CHUNK_LINES` lines, so the parser consumes lines as they are made: memory follows the
    chunk, not the file nor what its macros expand to.
    """

    def __init__(self, diags: Diagnostics, options: PreprocessOptions | None = None,
                 read_text: Callable[[str], str] | None = None) -> None:
        self.diags = diags
        self.opts = options or PreprocessOptions()
        self.params: dict[str, str] = {}
        self.out: list[Line] = []
        self.files: list[str] = []
        self._read_text = read_text
        self._pwd: list[str] = []
        self._include_stack: list[str] = []
        self._checks: set[str] = set()
        self._rng: random.Random | None = None  # made on first ${_RANDOM}
        self._included = 0  # files read through include
        self._read_chars = 0  # characters read from all files
        self._spent = 0  # expansion budget used (see EXPANSION_BUDGET)
        self._budget = EXPANSION_BUDGET  # grows with what is read (_read)
        self._exhausted_at: Location | None = None  # last line reported over the budget

    def _random(self) -> random.Random:
        """The seeded generator for ``${_RANDOM}``, created (and ``random`` imported) on first use."""
        if self._rng is None:
            import random

            self._rng = random.Random(self.opts.random_seed)
        return self._rng

    def _take(self) -> list[Line]:
        """Hand the lines made so far to the consumer and start a new list."""
        chunk = self.out
        self.out = []
        return chunk

    # -- files -------------------------------------------------------------------------------
    def _read(self, path: str) -> str:
        """The text of ``path``, counted against :data:`MAX_INPUT_CHARS`; OSError (RefusedFile) when it cannot be."""
        left = MAX_INPUT_CHARS - self._read_chars
        text = self._read_text(path) if self._read_text is not None else read_config_file(path, left)
        if len(text) > left:
            raise OSError(errno.EFBIG, f"the configuration's files hold more than {MAX_INPUT_CHARS} characters")
        self._read_chars += len(text)
        self._budget = EXPANSION_BUDGET + EXPANSION_PER_INPUT_CHAR * self._read_chars
        return text

    def _read_top(self, path: str) -> str | None:
        """Read the top-level file; a missing, unreadable or refused one is FATAL (keepalived exit 4)."""
        try:
            return self._read(path)
        except OSError as e:
            # keepalived 2.2.7 -t says "Config files missing" and exits 0 here; a config test that passes
            # on a typo'd path helps nobody, and the daemon must not start on nothing: fatal (exit 4).
            self.diags.fatal(Location(path, 0), f"cannot read configuration file: {e.strerror or e}")
            return None

    def run(self, path: str) -> list[Line]:
        """All the logical lines of ``path`` in one list (a missing or unreadable file is FATAL, exit 4)."""
        out: list[Line] = []
        for chunk in self.stream(path):
            out.extend(chunk)
        self.out = out
        return out

    def stream(self, path: str) -> Chunks:
        """:meth:`run` for a consumer that reads lines in order (the parser): yields lists of lines.

        The lines come in lists of about :data:`CHUNK_LINES`, made as the consumer asks for them, so the
        whole file's lines (~95 MB at 37k real servers) are never alive at once. A plain top-level file
        (see :func:`is_simple`) takes a faster path with the same result.
        """
        text = self._read_top(path)
        if text is None:
            return
        if is_simple(text):
            self.files.append(path)
            yield from simple_chunks(path, text, CHUNK_LINES, self.diags)
            return
        yield from self._text(path, text)
        if self.out:
            yield self._take()

    def _text(self, path: str, text: str) -> Chunks:
        self.files.append(path)
        self._pwd.append(os.path.dirname(os.path.abspath(path)))
        self._include_stack.append(os.path.abspath(path))
        saved_checks = set(self._checks)
        try:
            if is_simple(text):
                for chunk in simple_chunks(path, text, CHUNK_LINES, self.diags):
                    self.out.extend(chunk)
                    if len(self.out) >= CHUNK_LINES:
                        yield self._take()
            else:
                yield from self._lines(path, text)
        finally:
            self._checks = saved_checks
            self._include_stack.pop()
            self._pwd.pop()

    def _lines(self, path: str, text: str) -> Chunks:
        out = self.out
        diags = self.diags
        # A list iterator is the fastest way through the lines (the list costs ~60 bytes a line next to the
        # text); lines go out in chunks of about CHUNK_LINES physical lines (expansions flush on their own).
        lines = iter(text.split("\n"))
        i = 0
        cut = CHUNK_LINES
        for raw in lines:
            i += 1
            if i > cut:
                cut = i + CHUNK_LINES
                if out:
                    yield self._take()
                    out = self.out
            if len(raw) > MAX_LINE_LENGTH:
                too_long(diags, Location(path, i), len(raw))
                continue
            # Hot path: plain keyword lines (no macros, conditionals, quotes) go straight out.
            if "#" in raw or "!" in raw:
                raw = strip_comment(raw)
            s = raw.strip()
            if not s:
                continue
            loc = Location(path, i)
            c = s[0]
            if c == "$":
                m = _DEFINITION.match(s)
                if m is not None:
                    value = m.group(2)
                    if value.rstrip().endswith("\\"):
                        parts = [value.rstrip()[:-1].strip()]
                        for nxt_raw in lines:
                            i += 1
                            if len(nxt_raw) > MAX_LINE_LENGTH:
                                too_long(diags, Location(path, i), len(nxt_raw))
                                continue
                            nxt = strip_comment(nxt_raw).strip()
                            if not nxt:
                                continue
                            if nxt.endswith("\\"):
                                parts.append(nxt[:-1].rstrip())
                            else:
                                parts.append(nxt)
                                break
                        value = "\n".join(p for p in parts if p)
                    self.params[m.group(1)] = value.strip()
                    continue
            elif c == "i" and s.startswith("include"):
                first = s.split(None, 1)[0]
                if first in INCLUDE_KEYWORDS:
                    yield from self._include(s, first, loc)
                    out = self.out
                    continue
                if first == "include_check":
                    self._include_check(s, loc)
            if c in "@$~":
                yield from self._line(s, loc, 0)
                out = self.out
                continue
            if "$" in s:
                # "keyword $NAME": what _line does at depth 0 and 1, without its two generators, when the
                # substituted line is a plain one (no further $, no conditional, no second line).
                try:
                    new = self._substitute(s, loc)
                except _Exhausted:
                    self._exhaust(loc)
                    continue
                if new != s:
                    if "$" in new or "\n" in new or new.lstrip()[:1] in ("@", "~"):
                        for sub in new.split("\n"):
                            yield from self._line(sub, loc, 1)
                        out = self.out
                        continue
                    self._spent += len(new) + EXPANSION_LINE_COST
                    if self._spent > self._budget:
                        self._over_budget(loc)
                        continue
                    if len(new) > MAX_LINE_LENGTH:
                        too_long(diags, loc, len(new), "line after $NAME substitution")
                        continue
                    s = new.strip()
                    if not s:
                        continue
            if '"' in s or "'" in s or "\\" in s:
                try:
                    words = split_words(s)
                except LexError as e:
                    diags.error(loc, e.message)
                    words = e.words
            elif "{" in s or "}" in s:
                # The two shapes almost every config line with a brace has: "keyword args {" and "}".
                if s == "}":
                    out.append((["}"], loc))
                    continue
                if s[-1] == "{" and s.count("{") == 1 and "}" not in s:
                    words = s[:-1].split()
                    words.append("{")
                    out.append((words, loc))
                    continue
                words = s.replace("{", " { ").replace("}", " } ").split()
            else:
                out.append((s.split(), loc))
                continue
            for w in split_lines(words):
                out.append((w, loc))

    def _include_check(self, s: str, loc: Location) -> None:
        args = s.split()[1:]
        if not args:
            self._checks = set(_INCLUDE_CHECKS)
        for a in args:
            sign, name = (a[0], a[1:]) if a[:1] in "+-" else ("+", a)
            if name not in _INCLUDE_CHECKS:
                self.diags.error(loc, f"include_check: unknown check {name!r}, expected one of "
                                 f"{', '.join(_INCLUDE_CHECKS)}")
                continue
            if sign == "-":
                self._checks.discard(name)
            else:
                self._checks.add(name)
                if name != "readable":
                    self._checks.add("readable")

    def _include(self, s: str, keyword: str, loc: Location) -> Chunks:
        # Not split_words: braces in an include pattern are csh brace expansion, not blocks.
        import glob  # include-only modules load on first include (start-up time counts for -t)
        import shlex

        try:
            words = shlex.split(s)
        except ValueError as e:
            self.diags.error(loc, f"{keyword}: {e}")
            return
        if len(words) < 2:
            self.diags.error(loc, f"{keyword}: expected a file name or pattern")
            return
        checks = self._checks | INCLUDE_KEYWORDS[keyword]
        if len(self._include_stack) >= MAX_INCLUDE_DEPTH:
            self.diags.error(loc, f"{keyword}: includes nested more than {MAX_INCLUDE_DEPTH} deep (include loop?)")
            return
        base = self._pwd[-1]
        for pattern in words[1:]:
            files: list[str] = []
            try:
                alternatives = brace_expand(pattern)
            except ValueError as e:
                self.diags.error(loc, f"{keyword}: {e}")
                continue
            for alt in alternatives:
                full = alt if os.path.isabs(alt) else os.path.join(base, alt)
                if "\0" in full:
                    self.diags.error(loc, f"{keyword}: file name {alt!r} contains a NUL byte")
                    continue
                wild = glob.has_magic(full)
                matches = sorted(glob.glob(full)) if wild else ([full] if os.path.exists(full) else [])
                if not matches:
                    if ("wildcard_match" in checks and wild) or ("match" in checks and not wild) or (
                            "brace_match" in checks and alt != pattern):
                        self.diags.add(Severity.MISSING_FILE, loc, f"{keyword}: no file matches {alt!r}")
                    else:
                        self.diags.notice(loc, f"{keyword}: no file matches {alt!r} (ignored)")
                files.extend(matches)
            for f in files:
                if os.path.abspath(f) in self._include_stack:
                    self.diags.error(loc, f"{keyword}: {f!r} includes itself (loop), skipped")
                    continue
                if self._included >= MAX_INCLUDED_FILES:
                    self.diags.error(loc, f"{keyword}: more than {MAX_INCLUDED_FILES} files included "
                                     f"(include fan-out or loop?), {f!r} skipped")
                    return
                self._included += 1
                try:
                    text = self._read(f)
                except RefusedFile as e:
                    sev = Severity.MISSING_FILE if "readable" in checks else Severity.ERROR
                    self.diags.add(sev, loc, f"{keyword}: configuration file {f!r} is {e.strerror} - skipping")
                    continue
                except OSError as e:
                    sev = Severity.MISSING_FILE if "readable" in checks else Severity.NOTICE
                    if e.errno == errno.EFBIG:
                        sev = Severity.ERROR
                    self.diags.add(sev, loc, f"{keyword}: cannot read {f!r}: {e.strerror or e}")
                    continue
                yield from self._text(f, text)

    # -- one logical line (also for text produced by substitution) ----------------------------
    def _over_budget(self, loc: Location) -> bool:
        """Is the expansion budget used up? Reported once per source line that hits it."""
        if self._spent <= self._budget:
            return False
        if self._exhausted_at != loc:
            self._exhausted_at = loc
            self.diags.error(loc, f"$NAME/~SEQ expansion budget of {self._budget} exceeded (recursive or runaway "
                             "definitions?) - the rest of this line's expansion is ignored")
        return True

    def _exhaust(self, loc: Location) -> None:
        """A substitution would overrun the budget: the budget is used up, say so."""
        self._spent = max(self._spent, self._budget) + 1
        self._over_budget(loc)

    def _line(self, s: str, loc: Location, depth: int) -> Chunks:
        if depth:
            self._spent += len(s) + EXPANSION_LINE_COST
            if self._over_budget(loc):
                return
            if len(s) > MAX_LINE_LENGTH:
                too_long(self.diags, loc, len(s), "line after $NAME substitution")
                return
        if depth > MAX_DEPTH:
            self.diags.error(loc, f"parameter expansion nested more than {MAX_DEPTH} deep (recursive definition?)")
            return
        s = s.strip()
        if not s:
            return
        if s[0] == "@":
            first, _, rest = s.partition(" ")
            if "\t" in first:
                first, _, r2 = first.partition("\t")
                rest = r2 + " " + rest
            ident = first[1:]
            keep = ident[1:] != self.opts.config_id if ident.startswith("^") else ident == self.opts.config_id
            if not keep:
                return
            s = rest.strip()
            if not s:
                return
        if s[0] == "$":
            m = _DEFINITION.match(s)
            if m is not None:
                value = m.group(2).strip()
                if value.endswith("\\"):
                    value = value[:-1].rstrip()
                self.params[m.group(1)] = value
                return
        if s[0] == "~":
            m = _SEQ.match(s)
            if m is not None:
                yield from self._repeat(s, m, loc, depth)
                return
        if "$" in s:
            try:
                new = self._substitute(s, loc)
            except _Exhausted:
                self._exhaust(loc)
                return
            if new != s:
                if "\n" in new:
                    for sub in new.split("\n"):
                        yield from self._line(sub, loc, depth + 1)
                else:
                    yield from self._line(new, loc, depth + 1)
                return
        try:
            words = split_words(s)
        except LexError as e:
            self.diags.error(loc, e.message)
            words = e.words
        out = self.out
        for w in split_lines(words):
            out.append((w, loc))
        if len(out) >= CHUNK_LINES:
            yield self._take()

    def _builtin(self, name: str, args: str | None, loc: Location) -> str | None:
        if name == "_PWD":
            return self._pwd[-1] if self._pwd else os.getcwd()
        if name == "_INSTANCE":
            return self.opts.config_id
        if name == "_HASH":
            return "#"
        if name == "_BANG":
            return "!"
        if name == "_ENV":
            return self.opts.env.get((args or "").strip(), "")
        if name == "_RANDOM":
            lo, hi = 0, 32767
            parts = (args or "").split()
            try:
                if parts:
                    lo = int(parts[0])
                if len(parts) > 1:
                    hi = int(parts[1])
            except ValueError:
                self.diags.error(loc, f"${{_RANDOM}}: expected non-negative integers MIN MAX, got {args!r}")
                return "0"
            if lo < 0 or hi < lo:
                self.diags.error(loc, f"${{_RANDOM}}: expected 0 <= MIN <= MAX, got {args!r}")
                return str(lo if lo >= 0 else 0)
            return str(self._random().randint(lo, hi))
        return None

    def _substitute(self, s: str, loc: Location) -> str:
        """One pass of ``$NAME``/``${NAME}`` replacement; raises _Exhausted before the result outgrows the budget."""
        params = self.params
        left = self._budget - self._spent
        made = len(s)

        def repl(m: re.Match[str]) -> str:
            nonlocal made
            name = m.group(1) or m.group(3)
            value = params.get(name)
            if value is None and name.startswith("_"):
                value = self._builtin(name, m.group(2), loc)
            if value is None:
                return m.group(0)
            made += len(value)
            if made > left:
                raise _Exhausted
            return value

        return _REFERENCE.sub(repl, s)

    def _repeat(self, s: str, m: re.Match[str], loc: Location, depth: int) -> Chunks:
        kind = m.group(1)
        close = _matching_paren(s, m.end() - 1)
        if close < 0:
            self.diags.error(loc, f"~{kind}: missing ')'")
            return
        inner = s[m.end():close]
        rest = s[close + 1:]
        if kind == "LST":
            spec = _parse_lst(inner)
            if spec is None:
                self.diags.error(loc, "~LST: expected ~LST(var, v1, v2, ...) or ~LST({a, b}, {1, 2}, ...)")
                return
            names, rows = spec
            if len(rows) > MAX_REPEAT:
                self.diags.error(loc, f"~LST: more than {MAX_REPEAT} values")
                return
            for row in rows:
                for n, v in zip(names, row, strict=False):
                    self.params[n] = v
                yield from self._line(rest, loc, depth + 1)
                if self._exhausted_at == loc:
                    return
            return
        args = [a.strip() for a in inner.split(",")]
        name = args[0] if args else ""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not 2 <= len(args) <= 4:
            self.diags.error(loc, f"~{kind}: expected ~{kind}(var, [start, [step,]] end)")
            return
        try:
            nums = [int(a, 0) for a in args[1:]]
        except ValueError:
            self.diags.error(loc, f"~{kind}: start, step and end must be integers, got {_short(', '.join(args[1:]))}")
            return
        if len(nums) == 1:
            end = nums[0]
            start = 1 if end > 0 else -1
            step = 1 if end >= start else -1
        elif len(nums) == 2:
            start, end = nums
            step = 1 if end >= start else -1
        else:
            start, step, end = nums
        if step == 0 or (end - start) * step < 0:
            self.diags.error(loc, f"~{kind}: step {_short(str(step))} never reaches {_short(str(end))} "
                             f"from {_short(str(start))}")
            return
        count = (end - start) // step + 1
        if count > MAX_REPEAT:
            self.diags.error(loc, f"~{kind}: {_short(str(count))} repetitions is more than {MAX_REPEAT}")
            return
        fmt = "{:x}" if kind == "SEQx" else "{:d}"
        for k in range(count):
            self.params[name] = fmt.format(start + k * step)
            yield from self._line(rest, loc, depth + 1)
            if self._exhausted_at == loc:
                return


def _short(text: str, keep: int = 40) -> str:
    """``text`` for a message: a 5,000-digit number is shown by its head and its length."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text)} characters)"


def _matching_paren(s: str, open_at: int) -> int:
    level = 0
    for k in range(open_at, len(s)):
        ch = s[k]
        if ch == "(":
            level += 1
        elif ch == ")":
            level -= 1
            if level == 0:
                return k
    return -1


def _parse_lst(inner: str) -> tuple[list[str], list[list[str]]] | None:
    inner = inner.strip()
    if inner.startswith("{"):
        groups = re.findall(r"\{([^{}]*)\}", inner)
        if len(groups) < 2:
            return None
        names = [g.strip() for g in groups[0].split(",")]
        rows = [[v.strip() for v in g.split(",")] for g in groups[1:]]
    else:
        items = [v.strip() for v in inner.split(",")]
        if len(items) < 2:
            return None
        names, rows = [items[0]], [[v] for v in items[1:]]
    if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names):
        return None
    return names, rows


def brace_expand(pattern: str, limit: int | None = None) -> list[str]:
    """csh-style ``{a,b}`` expansion (nested allowed); a brace without a comma is left as is.

    ValueError when the pattern names more than ``limit`` (default :data:`MAX_INCLUDE_PATTERNS`) files: forty
    ``{a,b}`` would otherwise be 2^40 names. Iterative, so thousands of braces cannot exhaust the stack.
    """
    limit = MAX_INCLUDE_PATTERNS if limit is None else limit
    out: list[str] = []
    work = [(pattern, 0)]  # (text, where its first unexpanded group may start), depth-first in order
    while work:
        text, at = work.pop()
        group = _first_group(text, at)
        if group is None:
            out.append(text)
            if len(out) > limit:
                raise ValueError(f"pattern {_short(pattern)} expands to more than {limit} alternatives")
            continue
        start, bounds = group
        head, tail = text[:start], text[bounds[-1] + 1:]
        alts = [text[bounds[j] + 1: bounds[j + 1]] for j in range(len(bounds) - 1)]
        work.extend((head + a + tail, start) for a in reversed(alts))
        if len(out) + len(work) > limit:
            raise ValueError(f"pattern {_short(pattern)} expands to more than {limit} alternatives")
    return out


def _first_group(text: str, at: int) -> tuple[int, list[int]] | None:
    """The first ``{...}`` at or after ``at`` with a comma at its own level: (its start, [start, commas..., end])."""
    depth = 0
    start = -1
    commas: list[int] = []
    for k in range(at, len(text)):
        ch = text[k]
        if ch == "{":
            if depth == 0:
                start = k
                commas = []
            depth += 1
        elif ch == "," and depth == 1:
            commas.append(k)
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0 and commas:
                return start, [start, *commas, k]
    return None


def read_config_file(path: str, max_chars: int = MAX_INPUT_CHARS) -> str:
    """The text of a regular, non-executable file (keepalived's check_conf_file), at most ``max_chars``.

    Opened non-blocking, and checked on the open descriptor: a FIFO neither blocks the open nor the read,
    and nothing can swap the file between the check and the read. RefusedFile for anything else than a
    regular non-executable file; OSError(EFBIG) past ``max_chars``. Bytes that are not UTF-8 read as U+FFFD.
    """
    if "\0" in path:
        raise OSError(errno.EINVAL, "file name contains a NUL byte")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode) or mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            raise RefusedFile(errno.EINVAL, REFUSED_FILE)
        # newline="": lines end at "\n" only, as keepalived counts them (a lone "\r" is whitespace, not a line)
        with open(fd, encoding="utf-8", errors="replace", newline="", closefd=False) as f:
            parts: list[str] = []
            size = 0
            while part := f.read(1 << 20):  # not read(max_chars + 1): that allocates max_chars up front
                size += len(part)
                if size > max_chars:
                    raise OSError(errno.EFBIG, f"the configuration's files hold more than {MAX_INPUT_CHARS} "
                                  "characters")
                parts.append(part)
    finally:
        os.close(fd)
    return parts[0] if len(parts) == 1 else "".join(parts)
