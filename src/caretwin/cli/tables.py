"""Tables on the terminal and in pipes: readable at 80 columns, whole values when piped.

Letting rich squeeze a wide table into a narrow terminal wraps cells letter by letter, shrinks
columns to nothing and folds paths mid-name; piped output (80 columns by default) suffers the
same. So every CLI table goes through :func:`print_table`:

* not a terminal (a pipe, a file, a test runner): plain text, columns aligned with two spaces, no
  borders, colours or truncation, one line per row however long; values appear whole.
* a terminal: columns keep their natural width while the table fits. When it does not, the
  columns marked ``drop`` go first (highest first; a note names them), then columns marked
  ``fit`` narrow (see :func:`_fit_widths`): ``wrap`` wraps at spaces, ``end`` cuts the end (ids,
  URLs) and ``start`` the start (paths, so the file name stays) with an ellipsis. ``keep``
  columns (times, numbers) never change; a row takes one line unless a ``wrap`` column wraps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

Fit = Literal["keep", "wrap", "end", "start"]

_GAP = 2  # spaces between columns, in both renderings
_MIN_WRAP = 16  # a narrowed column keeps at least this many cells (or its header's width)
_MIN_CUT = 8


@dataclass(frozen=True)
class Column:
    header: str
    justify: Literal["left", "right"] = "left"
    drop: int = 0  # > 0: may be hidden on a narrow terminal, the highest first
    fit: Fit = "keep"
    style: str | None = None


def _plain(cell: str | Text) -> str:
    text = cell if isinstance(cell, str) else cell.plain
    return " ".join(text.split("\n"))


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[str | Text]],
    *,
    title: str | None = None,
    caption: str | None = None,
    console: Console | None = None,
) -> None:
    """Print ``rows`` under ``columns``; cells are plain strings (never markup) or rich Text."""
    from rich.console import Console

    console = console or Console()
    if console.is_terminal:
        _print_terminal(console, columns, rows, title, caption)
    else:
        _print_plain(console, columns, rows, title, caption)


def _print_plain(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str | Text]],
    title: str | None,
    caption: str | None,
) -> None:
    from rich.cells import cell_len

    header = [" ".join(c.header.split("\n")) for c in columns]
    body = [[_plain(cell) for cell in row] for row in rows]
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in body]) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        parts = []
        for col, width, text in zip(columns, widths, cells, strict=True):
            pad = " " * (width - cell_len(text))
            parts.append(pad + text if col.justify == "right" else text + pad)
        return (" " * _GAP).join(parts).rstrip()

    out = [title] if title else []
    out += [line(header)] + [line(r) for r in body]
    if caption:
        out.append(caption)
    console.out("\n".join(out), highlight=False)  # no markup, wrapping or cropping


def _fit_widths(
    natural: list[int], words: list[int], columns: Sequence[Column], width: int
) -> list[int]:
    """Narrow columns until the table fits or none can narrow further, widest first within each
    step: ``wrap`` columns to 16 cells, then ``end``/``start`` columns to 8 cells, then ``wrap``
    columns to their longest word (a word is never split); never below a column's header."""
    widths = list(natural)
    excess = sum(widths) + _GAP * (len(widths) - 1) - width
    steps: list[tuple[Fit, Callable[[int], int]]] = [
        ("wrap", lambda i: max(_MIN_WRAP, words[i])),
        ("end", lambda i: _MIN_CUT),
        ("wrap", lambda i: words[i]),
    ]
    for fit, floor_of in steps:
        floors = [
            min(w, max(floor_of(i), _header_width(c)))
            if c.fit == fit or (fit == "end" and c.fit == "start")
            else w
            for i, (c, w) in enumerate(zip(columns, widths, strict=True))
        ]
        while excess > 0:
            candidates = [i for i, w in enumerate(widths) if w > floors[i]]
            if not candidates:
                break
            i = max(candidates, key=lambda j: widths[j])
            widths[i] -= 1
            excess -= 1
    return widths


def _header_width(column: Column) -> int:
    """Header cells never wrap: the widest word of a header line, or the whole single line."""
    lines = column.header.split("\n")
    return max(len(w) for line in lines for w in line.split()) if len(lines) > 1 else len(lines[0])


def _cut(cell: str | Text, width: int, side: Fit) -> str | Text:
    from rich.cells import cell_len
    from rich.text import Text

    text = _plain(cell)
    if cell_len(text) <= width:
        return cell
    cut = text[: width - 1] + "…" if side == "end" else "…" + text[len(text) - width + 1 :]
    return cut if isinstance(cell, str) else Text(cut, style=cell.style)


def _print_terminal(
    console: Console,
    columns: Sequence[Column],
    rows: Sequence[Sequence[str | Text]],
    title: str | None,
    caption: str | None,
) -> None:
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table
    from rich.text import Text

    natural = [
        max(
            [cell_len(h) for h in c.header.split("\n")]
            + [cell_len(_plain(cell)) for r in rows for cell in r[i : i + 1]]
        )
        for i, c in enumerate(columns)
    ]
    shown = list(range(len(columns)))

    def total(idx: list[int]) -> int:
        return sum(natural[i] for i in idx) + _GAP * (len(idx) - 1)

    hidden: list[str] = []
    while total(shown) > console.width and any(columns[i].drop for i in shown):
        i = max((i for i in shown if columns[i].drop), key=lambda j: (columns[j].drop, j))
        shown.remove(i)
        hidden.append(" ".join(columns[i].header.split("\n")))
    words = [
        max(
            [0] + [cell_len(w) for r in rows for cell in r[i : i + 1] for w in _plain(cell).split()]
        )
        for i in shown
    ]
    widths = _fit_widths(
        [natural[i] for i in shown], words, [columns[i] for i in shown], console.width
    )

    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        padding=(0, 1),
        collapse_padding=True,
        header_style="bold",
    )
    for i, w in zip(shown, widths, strict=True):
        c = columns[i]
        table.add_column(
            c.header,
            justify=c.justify,
            style=c.style,
            width=w,
            no_wrap=c.fit != "wrap",
            overflow="fold" if c.fit == "wrap" else "ellipsis",
        )
    for row in rows:
        cells = []
        for i, w in zip(shown, widths, strict=True):
            fit = columns[i].fit
            cell = _cut(row[i], w, fit) if fit in ("end", "start") else row[i]
            cells.append(Text(cell) if isinstance(cell, str) else cell)
        table.add_row(*cells)
    # soft_wrap=False: the caller's console may soft-wrap its own lines (long paths), but a title
    # or note on a terminal wraps at spaces to the width like the table.
    if title:
        console.print(Text(title, style="bold"), soft_wrap=False)
    console.print(table, soft_wrap=False)
    if caption:
        console.print(Text(caption, style="dim"), soft_wrap=False)
    if hidden:
        note = f"not shown at this width: {', '.join(hidden)} (see --format json)"
        console.print(Text(note, style="dim"), soft_wrap=False)
