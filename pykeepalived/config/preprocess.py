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

import io
import os
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import Diagnostics, Location, Severity
from .lexer import LexError, split_lines, split_words, strip_comment

if TYPE_CHECKING:
    import random

Line = tuple[list[str], Location]

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

MAX_DEPTH = 64  # substitution / include nesting before we call it a loop
MAX_REPEAT = 1_000_000  # ~SEQ/~LST lines generated from one line (the man page example makes 65 024)


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


def simple_chunks(path: str, text: str, size: int = CHUNK_LINES) -> Iterator[list[Line]]:
    """The logical lines of a file :func:`is_simple` accepts, ``size`` physical lines' worth at a time.

    Generated configs (the scale keepalived users reach) are like this; comments are removed with one
    regex over the whole text and each line is then just ``str.split``, brace splitting only where a
    brace shares a line with something else than its keyword. Same lines as the general path
    (tests/property/test_config_fuzz.py).
    """
    if "#" in text or "!" in text:
        text = _COMMENT_TO_EOL.sub("", text)
    chunk: list[Line] = []
    append = chunk.append
    new = tuple.__new__
    i = 0
    cut = size
    # StringIO hands out one line at a time (split at "\n" only, like text.split("\n")): the file's
    # lines are never all alive at once next to their words, which keeps peak memory down.
    for line in io.StringIO(text, newline="\n"):
        i += 1
        if i > cut:
            cut += size
            if chunk:
                yield chunk
                chunk = []
                append = chunk.append
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
    """Turns a config file (and everything it includes) into logical lines with origins."""

    def __init__(self, diags: Diagnostics, options: PreprocessOptions | None = None,
                 read_text: Callable[[str], str] | None = None) -> None:
        self.diags = diags
        self.opts = options or PreprocessOptions()
        self.params: dict[str, str] = {}
        self.out: list[Line] = []
        self.files: list[str] = []
        self._read_text = read_text or _read_text
        self._pwd: list[str] = []
        self._include_stack: list[str] = []
        self._checks: set[str] = set()
        self._rng: random.Random | None = None  # made on first ${_RANDOM}

    def _random(self) -> random.Random:
        """The seeded generator for ``${_RANDOM}``, created (and ``random`` imported) on first use."""
        if self._rng is None:
            import random

            self._rng = random.Random(self.opts.random_seed)
        return self._rng

    # -- files -------------------------------------------------------------------------------
    def run(self, path: str) -> list[Line]:
        """Read ``path``; a missing or unreadable top-level file is FATAL (keepalived exit 4)."""
        try:
            text = self._read_text(path)
        except OSError as e:
            # keepalived 2.2.7 -t says "Config files missing" and exits 0 here; a config test that passes
            # on a typo'd path helps nobody, and the daemon must not start on nothing: fatal (exit 4).
            self.diags.fatal(Location(path, 0), f"cannot read configuration file: {e.strerror or e}")
            return self.out
        self._process_text(path, text)
        return self.out

    def stream(self, path: str) -> Iterator[list[Line]]:
        """:meth:`run` for a consumer that reads lines in order (the parser): yields lists of lines.

        A plain top-level file (see :func:`is_simple`) comes in chunks of :data:`CHUNK_LINES` lines made
        as the parser asks for them, so the whole file's lines (~95 MB at 37k real servers) are never
        alive at once; anything else is preprocessed first and comes as one list, as :meth:`run` gives it.
        """
        try:
            text = self._read_text(path)
        except OSError:
            yield self.run(path)  # reports the unreadable file
            return
        if is_simple(text):
            self.files.append(path)
            yield from simple_chunks(path, text, CHUNK_LINES)
        else:
            self._process_text(path, text)
            yield self.out

    def _process_text(self, path: str, text: str) -> None:
        self.files.append(path)
        self._pwd.append(os.path.dirname(os.path.abspath(path)))
        self._include_stack.append(os.path.abspath(path))
        saved_checks = set(self._checks)
        try:
            if not self._process_simple(path, text):
                self._process_lines(path, text.split("\n"))
        finally:
            self._checks = saved_checks
            self._include_stack.pop()
            self._pwd.pop()

    def _process_simple(self, path: str, text: str) -> bool:
        """Whole-file fast path for files without macros, conditionals, quotes, escapes or includes.

        Returns False (having done nothing) when the file needs the general path.
        """
        if not is_simple(text):
            return False
        for chunk in simple_chunks(path, text):
            self.out.extend(chunk)
        return True

    def _process_lines(self, path: str, lines: list[str]) -> None:
        out = self.out
        n = len(lines)
        i = 0
        while i < n:
            raw = lines[i]
            i += 1
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
                        while i < n:
                            nxt = strip_comment(lines[i]).strip()
                            i += 1
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
                    self._include(s, first, loc)
                    continue
                if first == "include_check":
                    self._include_check(s, loc)
            if c in "@$~" or "$" in s:
                self._process_line(s, loc, 0)
                continue
            if '"' in s or "'" in s or "\\" in s:
                try:
                    words = split_words(s)
                except LexError as e:
                    self.diags.error(loc, e.message)
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

    def _include(self, s: str, keyword: str, loc: Location) -> None:
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
        if len(self._include_stack) > MAX_DEPTH:
            self.diags.error(loc, f"{keyword}: includes nested more than {MAX_DEPTH} deep (include loop?)")
            return
        base = self._pwd[-1]
        for pattern in words[1:]:
            files: list[str] = []
            for alt in brace_expand(pattern):
                full = alt if os.path.isabs(alt) else os.path.join(base, alt)
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
                try:
                    text = self._read_text(f)
                except OSError as e:
                    sev = Severity.MISSING_FILE if "readable" in checks else Severity.NOTICE
                    self.diags.add(sev, loc, f"{keyword}: cannot read {f!r}: {e.strerror or e}")
                    continue
                self._process_text(f, text)

    # -- one logical line (also for text produced by substitution) ----------------------------
    def _process_line(self, s: str, loc: Location, depth: int) -> None:
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
                self._repeat(s, m, loc, depth)
                return
        if "$" in s:
            new = self._substitute(s, loc)
            if new != s:
                if "\n" in new:
                    for sub in new.split("\n"):
                        self._process_line(sub, loc, depth + 1)
                else:
                    self._process_line(new, loc, depth + 1)
                return
        try:
            words = split_words(s)
        except LexError as e:
            self.diags.error(loc, e.message)
            words = e.words
        for w in split_lines(words):
            self.out.append((w, loc))

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
        params = self.params

        def repl(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(3)
            if name in params:
                return params[name]
            if name.startswith("_"):
                v = self._builtin(name, m.group(2), loc)
                if v is not None:
                    return v
            return m.group(0)

        return _REFERENCE.sub(repl, s)

    def _repeat(self, s: str, m: re.Match[str], loc: Location, depth: int) -> None:
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
                self._process_line(rest, loc, depth + 1)
            return
        args = [a.strip() for a in inner.split(",")]
        name = args[0] if args else ""
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not 2 <= len(args) <= 4:
            self.diags.error(loc, f"~{kind}: expected ~{kind}(var, [start, [step,]] end)")
            return
        try:
            nums = [int(a, 0) for a in args[1:]]
        except ValueError:
            self.diags.error(loc, f"~{kind}: start, step and end must be integers, got {', '.join(args[1:])}")
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
            self.diags.error(loc, f"~{kind}: step {step} never reaches {end} from {start}")
            return
        count = (end - start) // step + 1
        if count > MAX_REPEAT:
            self.diags.error(loc, f"~{kind}: {count} repetitions is more than {MAX_REPEAT}")
            return
        fmt = "{:x}" if kind == "SEQx" else "{:d}"
        for k in range(count):
            self.params[name] = fmt.format(start + k * step)
            self._process_line(rest, loc, depth + 1)


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


def brace_expand(pattern: str) -> list[str]:
    """csh-style ``{a,b}`` expansion (nested allowed); a brace without a comma is left as is."""
    depth = 0
    start = -1
    commas: list[int] = []
    for k, ch in enumerate(pattern):
        if ch == "{":
            if depth == 0:
                start = k
                commas = []
            depth += 1
        elif ch == "," and depth == 1:
            commas.append(k)
        elif ch == "}" and depth > 0:
            depth -= 1
            if depth == 0:
                if not commas:
                    rest = brace_expand(pattern[k + 1:])
                    return [pattern[: k + 1] + r for r in rest]
                bounds = [start, *commas, k]
                alts = [pattern[bounds[j] + 1: bounds[j + 1]] for j in range(len(bounds) - 1)]
                head, tail = pattern[:start], pattern[k + 1:]
                out: list[str] = []
                for a in alts:
                    out.extend(brace_expand(head + a + tail))
                return out
    return [pattern]


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()
