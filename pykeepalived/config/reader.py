"""Block reader over the preprocessor's logical lines: yields keywords level by level."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import Diagnostics, Location
from .preprocess import Line

Entry = tuple[str, list[str], Location, bool]  # keyword, args, origin, opens-a-block
_BRACE_LINE = ["{"]


class BlockReader:
    """Walks ``{``/``}`` structure. ``body()`` yields one level; a block a handler leaves unread is skipped.

    The lines are ``lines`` followed by the lists ``more`` yields (Preprocessor.stream gives a big file
    in chunks). Readers only move forward: ``i`` is the position in the current list ``lines``, and
    :meth:`refill` moves on to the next list when it is used up.
    """

    __slots__ = ("diags", "i", "lines", "more", "n")

    def __init__(self, lines: list[Line], diags: Diagnostics, more: Iterator[list[Line]] | None = None) -> None:
        self.lines = lines
        self.diags = diags
        self.i = 0
        self.n = len(lines)
        self.more = more

    def refill(self) -> bool:
        """Move to the next non-empty list of lines; False at the end of the input. Call only when i == n."""
        if self.more is None:
            return False
        for lines in self.more:
            if lines:
                self.lines = lines
                self.i = 0
                self.n = len(lines)
                return True
        self.more = None
        return False

    def at_end(self) -> bool:
        return self.i >= self.n and not self.refill()

    def next_is_brace(self) -> bool:
        """Is the next line a lone ``{`` (a block opened on the line after its keyword)?"""
        return not self.at_end() and self.lines[self.i][0] == _BRACE_LINE

    def body(self, opener: Location | None) -> Iterator[Entry]:
        """Yield the entries of the block opened at ``opener`` (None = top level) up to its ``}``."""
        while not self.at_end():
            words, loc = self.lines[self.i]
            self.i += 1
            kw = words[0]
            if kw == "}":
                if opener is None:
                    self.diags.warning(loc, "Extra '}' found")
                    continue
                return
            if kw == "{":
                self.diags.warning(loc, "Unexpected '{' - ignoring")
                continue
            if words[-1] == "{":
                args = words[1:-1]
                opens = True
            else:
                args = words[1:]
                opens = self.next_is_brace()
                if opens:
                    self.i += 1
            if not opens:
                yield kw, args, loc, False
                continue
            start_lines, start = self.lines, self.i
            yield kw, args, loc, True
            if self.lines is start_lines and self.i == start:
                self.skip(loc)
        if opener is not None:
            self.diags.error(opener, "missing '}': block opened here is not closed before end of file")

    def skip(self, opener: Location) -> None:
        """Consume the rest of a block (nested blocks included) without interpreting it."""
        depth = 1
        while not self.at_end():
            words = self.lines[self.i][0]
            self.i += 1
            if words[-1] == "{":
                depth += 1
            elif words[0] == "}":
                depth -= 1
                if depth == 0:
                    return
        self.diags.error(opener, "missing '}': block opened here is not closed before end of file")

    def words_of(self, opener: Location) -> Iterator[tuple[list[str], Location]]:
        """Yield each line of a list block (``virtual_ipaddress {...}``) as words; nested blocks skipped."""
        for kw, args, loc, opens in self.body(opener):
            if opens:
                self.diags.warning(loc, f"Unexpected block after '{kw}' - ignoring")
                continue
            yield [kw, *args], loc
