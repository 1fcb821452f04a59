"""Lexical layer: comments, quoting, shell-like escapes and brace splitting for one config line.

Speed matters (the benchmark config has ~237k lines), so the common line - no quotes, no
backslashes - goes through ``str`` methods only; the regex tokenizer is used only for lines that
contain quote characters or backslashes.
"""

from __future__ import annotations

import re

# First '#' or '!' outside quotes starts a comment. Quoted runs are matched (and skipped) whole.
_COMMENT_SCAN = re.compile(r""""(?:\\.|[^"\\])*"?|'(?:\\.|[^'\\])*'?|[#!]""")

# Slow-path tokenizer: quoted strings, braces, whitespace, or a run of plain characters.
_TOKEN = re.compile(
    r"""(?P<dq>"(?:\\.|[^"\\])*("?))|(?P<sq>'(?:\\.|[^'\\])*('?))|(?P<brace>[{}])|(?P<ws>\s+)|(?P<plain>[^\s"'{}]+)"""
)

_ESCAPE = re.compile(r"\\(?:([0-7]{1,3})|x([0-9A-Fa-f]+)|c(.)|(.))", re.DOTALL)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "E": "\x1b", "e": "\x1b", "f": "\f", "n": "\n", "r": "\r",
                   "t": "\t", "v": "\v"}


class LexError(ValueError):
    """A line that cannot be tokenized exactly (e.g. an unterminated quote); ``words`` is still usable."""

    def __init__(self, message: str, words: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.words = words


def strip_comment(text: str) -> str:
    """Remove a ``#`` or ``!`` comment that starts outside quotes."""
    if '"' not in text and "'" not in text:
        h = text.find("#")
        b = text.find("!")
        if h < 0:
            return text if b < 0 else text[:b]
        if b < 0 or h < b:
            return text[:h]
        return text[:b]
    for m in _COMMENT_SCAN.finditer(text):
        if m.group() in ("#", "!"):
            return text[: m.start()]
    return text


def _escape_sub(m: re.Match[str]) -> str:
    octal, hexa, ctrl, other = m.groups()
    if octal is not None:
        return chr(int(octal, 8) & 0xFF)
    if hexa is not None:
        return chr(int(hexa[-2:], 16))
    if ctrl is not None:
        # ASCII only: "ß".upper() is two characters, and keepalived's \c works on bytes
        return chr(ord(ctrl.upper()) ^ 0x40) if ctrl.isascii() and (ctrl.isalpha() or ctrl in "@[\\]^_?") else ctrl
    return _SIMPLE_ESCAPES.get(other, other)


def unescape(text: str) -> str:
    """Apply keepalived's shell-like escapes (``\\n``, ``\\x41``, ``\\101``, ``\\cA``, ``\\"``...)."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(_escape_sub, text)


def split_words(text: str) -> list[str]:
    """Split a comment-free line into words; ``{`` and ``}`` outside quotes are words of their own.

    Raises LexError for an unterminated quote (after which the rest of the line is one word, as
    keepalived treats it); callers report it with the line's location.
    """
    if '"' not in text and "'" not in text and "\\" not in text:
        if "{" in text or "}" in text:
            return text.replace("{", " { ").replace("}", " } ").split()
        return text.split()
    words: list[str] = []
    current: list[str] = []
    in_word = False
    unterminated = False
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        if kind == "ws":
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
        elif kind == "brace":
            if in_word:
                words.append("".join(current))
                current = []
                in_word = False
            words.append(m.group())
        elif kind == "plain":
            current.append(m.group())
            in_word = True
        else:
            raw = m.group()
            closed = m.group(2) if kind == "dq" else m.group(4)
            body = raw[1:-1] if closed else raw[1:]
            if not closed:
                unterminated = True
            current.append(unescape(body))
            in_word = True
    if in_word:
        words.append("".join(current))
    if unterminated:
        raise LexError(f"unterminated quoted string in {text.strip()!r}", words)
    return words


def split_lines(words: list[str]) -> list[list[str]]:
    """Break one physical line's words into logical lines at braces, as keepalived's reader does.

    ``a b { c }`` becomes ``[a, b, {]``, ``[c]``, ``[}]``: a ``{`` ends the line it opens, a ``}``
    is a line of its own.
    """
    out: list[list[str]] = []
    cur: list[str] = []
    for w in words:
        if w == "{":
            cur.append(w)
            out.append(cur)
            cur = []
        elif w == "}":
            if cur:
                out.append(cur)
                cur = []
            out.append([w])
        else:
            cur.append(w)
    if cur:
        out.append(cur)
    return out
