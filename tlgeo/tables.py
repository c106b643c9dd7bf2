"""Plain-text tables: the one formatter behind every aligned table tlgeo prints (CLI, advisor, benches)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def table_lines(
    rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None, *, rule: bool = True
) -> list[str]:
    """Rows as aligned text lines: a header, a rule of dashes (``rule``), one line per row.

    Args:
        rows: One mapping per row; a missing cell is empty.
        columns: Column order (default: the keys of the first row).
        rule: Put a line of dashes under the header.

    Returns:
        The lines, trailing spaces removed; ``["(nothing)"]`` when there are no rows.
    """
    if not rows:
        return ["(nothing)"]
    columns = list(columns or rows[0])
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True)).rstrip()

    head = [line(columns)] + ([line(["-" * w for w in widths])] if rule else [])
    return head + [line(row) for row in cells]


def print_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str] | None = None) -> None:
    """Print :func:`table_lines` of ``rows``."""
    print("\n".join(table_lines(rows, columns)))
