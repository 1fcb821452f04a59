"""Block reader over the preprocessor's logical lines: yields keywords level by level."""

from __future__ import annotations

from collections.abc import Iterator

from .errors import Diagnostics, Location
from .preprocess import Line

Entry = tuple[str, list[str], Location, bool]  # keyword, args, origin, opens-a-block


class BlockReader:
    """Walks ``{``/``}`` structure. ``body()`` yields one level; a block a handler leaves unread is skipped."""

    __slots__ = ("diags", "i", "lines", "n")

    def __init__(self, lines: list[Line], diags: Diagnostics) -> None:
        self.lines = lines
        self.diags = diags
        self.i = 0
        self.n = len(lines)

    def body(self, opener: Location | None) -> Iterator[Entry]:
        """Yield the entries of the block opened at ``opener`` (None = top level) up to its ``}``."""
        lines = self.lines
        while self.i < self.n:
            words, loc = lines[self.i]
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
                opens = self.i < self.n and lines[self.i][0] == ["{"]
                if opens:
                    self.i += 1
            if not opens:
                yield kw, args, loc, False
                continue
            start = self.i
            yield kw, args, loc, True
            if self.i == start:
                self.skip(loc)
        if opener is not None:
            self.diags.error(opener, "missing '}': block opened here is not closed before end of file")

    def skip(self, opener: Location) -> None:
        """Consume the rest of a block (nested blocks included) without interpreting it."""
        lines = self.lines
        depth = 1
        while self.i < self.n:
            words = lines[self.i][0]
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
