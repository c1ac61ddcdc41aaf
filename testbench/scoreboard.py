"""In-order scoreboard: observed transactions against what the reference model expects."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import Any


class ScoreboardError(AssertionError):
    """An observed transaction differs from the expected one, or one is missing or extra."""


class Scoreboard:
    """Checks observed items, in order, against expected items from ``emulator.ref``.

    Parameters
    ----------
    name : str
        Named in every failure message.
    describe : callable, optional
        Turns an item into text for failure messages.
    """

    def __init__(self, name: str, describe: Callable[[Any], str] = repr) -> None:
        self.name = name
        self.describe = describe
        self.expected: deque[Any] = deque()
        self.matched = 0

    def expect(self, items: Iterable[Any]) -> None:
        self.expected.extend(items)

    def observe(self, item: Any) -> None:
        if not self.expected:
            raise ScoreboardError(f"{self.name}: unexpected item #{self.matched}: "
                                  f"{self.describe(item)}")
        want = self.expected.popleft()
        if item != want:
            raise ScoreboardError(f"{self.name}: item #{self.matched} differs\n"
                                  f"  expected {self.describe(want)}\n"
                                  f"  observed {self.describe(item)}")
        self.matched += 1

    def assert_drained(self) -> None:
        if self.expected:
            raise ScoreboardError(f"{self.name}: {len(self.expected)} expected item(s) never "
                                  f"arrived, first {self.describe(self.expected[0])}")
