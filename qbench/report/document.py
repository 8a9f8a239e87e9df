"""A small document model that the Markdown and HTML renderers share.

Sections are built once (:mod:`qbench.report.sections`) from plain strings; each renderer
formats (and the HTML one escapes) every string itself, so no text is ever spliced into markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Code:
    """Inline code inside a paragraph or list item."""

    text: str


Inline = str | Code


@dataclass(frozen=True)
class Paragraph:
    """A paragraph: a sequence of inline parts (text, code, links)."""

    parts: tuple[Inline, ...]

    @classmethod
    def of(cls, *parts: Inline) -> Paragraph:
        """A paragraph of ``parts``."""
        return cls(tuple(parts))


@dataclass(frozen=True)
class Cell:
    """A table cell: its text, an optional note (a confidence interval) shown beside it and an
    emphasis: ``best`` (bold) or ``second`` (underlined), as papers mark the two best values."""

    text: str
    note: str = ""
    emphasis: str = ""


@dataclass(frozen=True)
class Table:
    """A table: headers and rows of cells, the leading ``text_columns`` being names."""

    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    text_columns: int = 1                 # leading columns of names (left-aligned in HTML)
    kind: str = ""                        # a CSS class

    @classmethod
    def of(cls, headers: list[str], rows: list[list], text_columns: int = 1, kind: str = "") -> Table:
        """A table from lists; plain values become cells of their text."""
        return cls(tuple(headers), tuple(tuple(c if isinstance(c, Cell) else Cell(str(c)) for c in r) for r in rows),
                   text_columns, kind)


@dataclass(frozen=True)
class Items:
    """A bullet list; each item is a sequence of inline parts."""

    items: tuple[tuple[Inline, ...], ...]


@dataclass(frozen=True)
class Figure:
    """An image beside the report (a relative path) with its alternative text; a ``wide`` one (a
    visual comparison panel) takes the page's full width in HTML."""

    src: str
    alt: str
    wide: bool = False


@dataclass(frozen=True)
class Preformatted:
    """Literal multi-line text (a traceback), shown as is."""

    text: str


Block = Paragraph | Table | Items | Figure | Preformatted


@dataclass
class Section:
    """A titled section of blocks (paragraphs, tables, figures, lists)."""

    title: str
    blocks: list[Block] = field(default_factory=list)
    anchor: str = ""                      # an id for the HTML heading


@dataclass
class Document:
    """A whole report: title, introduction and sections; the renderers' input."""

    title: str
    intro: list[Block] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
