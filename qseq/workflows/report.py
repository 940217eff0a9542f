"""Plain-text tables and durations for the command line and the benchmark scripts."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["table", "duration"]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return text == "-"


def table(rows: Sequence[Sequence], header: Sequence[str]) -> str:
    """A plain-text table; columns whose cells all read as numbers (or ``-``) are right-aligned."""
    cells = [tuple(str(c) for c in row) for row in [header, *rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) for i in range(len(header))]

    def line(row):
        return "  ".join(
            c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths), *map(line, cells[1:])])


def duration(seconds: float) -> str:
    """``seconds`` in the largest unit that is at least 1: days, h, min or s, one decimal."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.1f} s"
