"""Progress for long commands (`make run`'s set-up): a line per step with its time, and bars.

Plain Python, no Django, so that the launcher (devtools) uses it too. On a terminal a bar
is redrawn in place; in a log (not a terminal) it prints a line at each quarter instead.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from typing import TextIO

BAR_WIDTH = 30


class Steps:
    """Prints "label ..." when a step starts and "label: summary (1.2 s)" when it ends."""

    def __init__(self, stream: TextIO | None = None, indent: str = "  "):
        self.stream = stream or sys.stdout
        self.indent = indent
        self.started = time.monotonic()

    def write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def start(self, label: str) -> Step:
        self.write(f"{self.indent}{label} ...")
        return Step(self, label)

    @contextlib.contextmanager
    def step(self, label: str) -> Iterator[Step]:
        """A step whose summary the block may set (`step.summary = "3 loans"`)."""
        step = self.start(label)
        yield step
        step.end(step.summary)

    def progress(self, label: str, total: int, unit: str = "") -> Bar:
        return Bar(self, label, total, unit)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


class Step:
    def __init__(self, steps: Steps, label: str):
        self.steps = steps
        self.label = label
        self.summary = ""
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def end(self, summary: str = "") -> None:
        self.steps.write(
            f"{self.steps.indent}{self.label}: {summary or 'done'} ({self.elapsed():.1f} s)"
        )


class Bar:
    """`[#######-----------]  120/330 loans`, redrawn at most ten times a second."""

    def __init__(self, steps: Steps, label: str, total: int, unit: str):
        self.steps = steps
        self.label = label
        self.total = max(total, 1)
        self.unit = unit
        self.done = 0
        self.tty = bool(getattr(steps.stream, "isatty", lambda: False)())
        self.drawn_at = 0.0
        self.quarter = 0

    def advance(self, count: int = 1) -> None:
        self.done = min(self.done + count, self.total)
        if self.tty:
            now = time.monotonic()
            if now - self.drawn_at >= 0.1 or self.done == self.total:
                self.drawn_at = now
                self.steps.stream.write("\r" + self._line())
                self.steps.stream.flush()
        elif self.done * 4 // self.total > self.quarter:
            self.quarter = self.done * 4 // self.total
            self.steps.write(self._line())

    def finish(self) -> None:
        """The last line: what was done (a total that was an estimate becomes the count)."""
        self.total = max(self.done, 1)
        if self.tty:
            self.steps.stream.write("\r" + self._line() + "\n")
            self.steps.stream.flush()
        elif self.quarter < 4:
            self.steps.write(self._line())

    def _line(self) -> str:
        filled = BAR_WIDTH * self.done // self.total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.steps.indent}  {self.label} [{bar}] {self.done}/{self.total}{unit}"
