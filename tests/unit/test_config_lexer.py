"""Lexical layer: comments, quoting, escapes, braces sharing lines with content."""

from __future__ import annotations

import pytest

from pykeepalived.config.lexer import LexError, split_lines, split_words, strip_comment, unescape


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("priority 100 # comment", "priority 100 "),
        ("priority 100 ! comment", "priority 100 "),
        ('script "killall -0 x # not a comment" # comment', 'script "killall -0 x # not a comment" '),
        ("script 'a ! b' ! c", "script 'a ! b' "),
        ("no comment here", "no comment here"),
    ],
)
def test_comments_start_anywhere_outside_quotes(text: str, want: str) -> None:
    assert strip_comment(text) == want


def test_adjacent_quoted_and_unquoted_text_concatenate() -> None:
    # the man page example: abcd" efg h jkl "mnop is one string
    assert split_words('abcd" efg h jkl "mnop') == ["abcd efg h jkl mnop"]
    assert split_words('abcd "efg h jkl" mnop') == ["abcd", "efg h jkl", "mnop"]


def test_shell_like_escapes_in_quotes() -> None:
    assert split_words(r'"a\tb\x41\101\"q\\"') == ['a\tbAA"q\\']
    assert unescape(r"\cA\n") == "\x01\n"


def test_braces_split_lines_like_keepalived() -> None:
    words = split_words("virtual_ipaddress { 10.0.0.1 }")
    assert split_lines(words) == [["virtual_ipaddress", "{"], ["10.0.0.1"], ["}"]]
    assert split_lines(split_words("} }")) == [["}"], ["}"]]
    # a quoted brace is text, not structure
    assert split_words('notify "a{b}"') == ["notify", "a{b}"]


def test_unterminated_quote_is_reported_not_raised_blindly() -> None:
    with pytest.raises(LexError) as e:
        split_words('script "abc')
    assert e.value.words == ["script", "abc"]
