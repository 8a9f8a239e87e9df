"""Render a :class:`~qbench.report.document.Document` as GitHub Markdown."""

from __future__ import annotations

from .document import Code, Document, Figure, Inline, Items, Paragraph, Table


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")


def _inline(parts: tuple[Inline, ...]) -> str:
    return "".join(f"`{p.text}`" if isinstance(p, Code) else p for p in parts)


def _table(t: Table) -> str:
    from tabulate import tabulate

    rows = [[_cell(c.text + (f" {c.note}" if c.note else "")) for c in r] for r in t.rows]
    return tabulate(rows, headers=[_cell(h) for h in t.headers], tablefmt="github", disable_numparse=True)


def _block(b) -> str:
    if isinstance(b, Paragraph):
        return _inline(b.parts)
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Items):
        return "\n".join("- " + _inline(item) for item in b.items)
    if isinstance(b, Figure):
        return f"![{_cell(b.alt)}]({b.src})"
    raise TypeError(f"unknown block {type(b).__name__}")


def render_markdown(doc: Document) -> str:
    """The document as Markdown: a title, its intro, then one ``##`` section after another."""
    lines = [f"# {doc.title}", ""]
    for b in doc.intro:
        lines += [_block(b), ""]
    for s in doc.sections:
        lines += [f"## {s.title}", ""]
        for b in s.blocks:
            lines += [_block(b), ""]
    return "\n".join(lines)
