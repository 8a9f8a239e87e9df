"""Render a :class:`~qbench.report.document.Document` as one self-contained HTML page.

Every string that reaches the page (names, values, failure texts, image paths) is escaped here.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from .document import Code, Document, Figure, Inline, Items, Paragraph, Preformatted, Table

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:80em}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.ci{color:#777;font-size:.85em}
figure{display:inline-block;margin:.5em} figure img{max-width:36em}
"""


def _e(text: str) -> str:
    return escape(str(text), quote=True)


def _inline(parts: tuple[Inline, ...]) -> str:
    return "".join(f"<code>{_e(p.text)}</code>" if isinstance(p, Code) else _e(p) for p in parts)


def _table(t: Table) -> str:
    def cls(i: int) -> str:
        return " class='l'" if i < t.text_columns else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(t.headers))
    body = []
    for row in t.rows:
        cells = "".join(f"<td{cls(i)}>{_e(c.text)}" + (f" <span class='ci'>{_e(c.note)}</span>" if c.note else "")
                        + "</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    kind = f" class='{_e(t.kind)}'" if t.kind else ""
    return f"<table{kind}>\n<tr>{head}</tr>\n" + "\n".join(body) + "\n</table>"


def _block(b) -> str:
    if isinstance(b, Paragraph):
        return f"<p>{_inline(b.parts)}</p>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Items):
        return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in b.items) + "</ul>"
    if isinstance(b, Figure):
        src = _e(quote(str(b.src), safe="/"))       # a file name with '#', '?' or spaces stays one link
        return (f"<figure><a href='{src}'><img src='{src}' alt='{_e(b.alt)}'></a>"
                f"<figcaption>{_e(b.alt)}</figcaption></figure>")
    if isinstance(b, Preformatted):
        return f"<pre>{_e(b.text)}</pre>"
    raise TypeError(f"unknown block {type(b).__name__}")


def render_html(doc: Document) -> str:
    """The document as an HTML page (inline CSS; figures are linked files beside the page)."""
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(doc.title)}</title>"
             f"<style>{CSS}</style></head><body>"), f"<h1>{_e(doc.title)}</h1>"]
    parts += [_block(b) for b in doc.intro]
    for s in doc.sections:
        ident = f" id='{_e(s.anchor)}'" if s.anchor else ""
        parts.append(f"<h2{ident}>{_e(s.title)}</h2>")
        parts += [_block(b) for b in s.blocks]
    parts.append("</body></html>")
    return "\n".join(parts)
