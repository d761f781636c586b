"""The segments of one table line, as DataTable draws them (so screens look the same).

DataTable renders a cell through ``console.render_lines(Styled(Padding(cell)))`` with the
base style plus ``{"row", "column"}`` meta (which mouse clicks and hover read) and the
cursor/hover component styles, then pads the line to the widget's width with an "extend"
segment. ``cell_segments`` makes the same segments directly for a one-line cell that fits
(a plain string or a ``Text`` with spans only, cut to its column with an ellipsis); any
other cell (newlines, tabs, a base style, justified) goes through Rich's own layout, as in
DataTable. tui/widgets/fast_cells.py does the same inside a DataTable.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions
from rich.control import strip_control_codes
from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from switchyard.tui.display import truncate
from textual.renderables.styled import Styled

Cell = str | Text


def cut(cell: Cell, width: int) -> Text:
    """``cell`` as shown in a column ``width`` cells wide (cut with an ellipsis)."""
    text = Text(cell, end="") if isinstance(cell, str) else cell
    return truncate(text, width)


def cell_width(cell: Cell) -> int:
    """Its width in cells (printable ASCII: its length, without asking Rich)."""
    if type(cell) is str:
        return len(cell) if cell.isascii() and cell.isprintable() else cell_len(cell)
    return cell_len(cell) if isinstance(cell, str) else cell.cell_len


def _fits(cell: Text) -> bool:
    return (
        not cell.style
        and cell.justify in (None, "default")
        and "\n" not in cell.plain
        and "\t" not in cell.plain
    )


def plain_cell(cell: str, room: int, pad: int, style: Style) -> Segment | None:
    """A plain one-line string cell as the one segment ``cell_segments`` makes once
    simplified (``style``: the pre style plus the post style); None for anything else."""
    if not (cell.isascii() and cell.isprintable()) or room < 0:
        return None
    if len(cell) > room:
        cell = cell[: room - 1] + "…" if room > 0 else ""
    blank = " " * pad
    return Segment(f"{blank}{cell}{' ' * (room - len(cell))}{blank}", style)


def cell_segments(
    console: Console,
    options: ConsoleOptions,
    cell: Cell,
    room: int,
    pad: int,
    pre_style: Style,
    post_style: Style,
) -> list[Segment]:
    """One cell ``room`` cells wide (plus ``pad`` each side): its segments, styled."""
    body: list[Segment]
    if isinstance(cell, str) and "\n" not in cell and "\t" not in cell:
        plain = strip_control_codes(cell)  # as Text(cell) does
        size = cell_len(plain)
        if size > room:
            plain = set_cell_size(plain, room - 1) + "…" if room > 0 else ""
            size = cell_len(plain)
        body = [Segment(plain)]
    else:
        text = Text(cell, end="") if isinstance(cell, str) else cell
        if text.cell_len > room:
            text = truncate(text, room)
        if not _fits(text) or room < 0:
            return _rich_cell(console, options, text, room, pad, pre_style, post_style)
        size = text.cell_len
        body = list(text.render(console, end=""))
    blank = " " * pad
    segments = [Segment(blank), *body] if pad else body
    if room > size:
        segments.append(Segment(" " * (room - size)))
    if pad:
        segments.append(Segment(blank))
    return list(Segment.apply_style(segments, style=pre_style, post_style=post_style))


def _rich_cell(
    console: Console,
    options: ConsoleOptions,
    cell: Text,
    room: int,
    pad: int,
    pre_style: Style,
    post_style: Style,
) -> list[Segment]:
    """DataTable's own way, for what ``cell_segments`` does not lay out itself."""
    lines = console.render_lines(
        Styled(Padding(cell, (0, pad)), pre_style=pre_style, post_style=post_style),
        options.update_dimensions(room + 2 * pad, 1).update(no_wrap=True),
    )
    return lines[0]


def header_segments(
    console: Console,
    options: ConsoleOptions,
    label: Text,
    room: int,
    pad: int,
    pre_style: Style,
    post_style: Style,
) -> list[Segment]:
    """A header cell, laid out by Rich exactly as DataTable does."""
    return _rich_cell(console, options, label, room, pad, pre_style, post_style)
