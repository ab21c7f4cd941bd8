"""Log lines above one live status line on a terminal; plain lines elsewhere."""

from __future__ import annotations

import os
from typing import TextIO


class Screen:
    """What the demo prints: lines that stay, and on a terminal one status line
    below them that is redrawn in place."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.color = self.tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        encoding = (getattr(out, "encoding", None) or "").lower().replace("-", "")
        self.fancy = encoding == "utf8"
        self.status = ""

    def paint(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def line(self, text: str = "") -> None:
        """A line that stays, above the status line."""
        if self.tty and self.status:
            self.out.write("\r\x1b[2K" + text + "\n" + self.status)
        else:
            self.out.write(text + "\n")
        self.out.flush()

    def show(self, status: str) -> None:
        """Redraw the status line (terminals only)."""
        self.status = status
        if self.tty:
            self.out.write("\r\x1b[2K" + status)
            self.out.flush()

    def settle(self, status: str) -> None:
        """Turn the status line into a line that stays, showing ``status``."""
        self.status = ""
        self.out.write(("\r\x1b[2K" if self.tty else "") + status + "\n")
        self.out.flush()

    def end_status(self) -> None:
        if self.tty and self.status:
            self.out.write("\n")
            self.out.flush()
        self.status = ""

    def bar(self, fraction: float, width: int = 28) -> str:
        full = max(0, min(width, round(fraction * width)))
        on, off = ("█", "░") if self.fancy else ("#", "-")
        return self.paint(on * full, "36") + self.paint(off * (width - full), "2")


def count(value: float) -> str:
    """``12,345``."""
    return f"{value:,.0f}"


def ms(seconds: float) -> str:
    """``0.25 ms``."""
    return f"{seconds * 1000:.2f} ms"
