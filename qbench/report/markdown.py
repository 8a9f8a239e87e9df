"""Render a :class:`~qbench.report.document.Document` as GitHub Markdown.

Every string of the document is plain text: characters that Markdown would read as markup (raw
HTML, links, emphasis, code, table pipes) are backslash-escaped, so a solver, dataset or image
name shows as written and can neither inject HTML nor break a table.
"""

from __future__ import annotations

import re

from .document import Code, Document, Figure, Inline, Items, Paragraph, Preformatted, Table

# ASCII punctuation that starts Markdown/GFM markup; "_" only where it could delimit emphasis
# (intraword underscores, as in psnr_y, are literal in GFM and stay readable).
_MARKUP = re.compile(r"[\\`*\[\]<>|&~!]|(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")


def _text(text: str) -> str:
    """Plain text as Markdown that renders literally (one line)."""
    return _MARKUP.sub(lambda m: "\\" + m.group(0), str(text).replace("\r", " ").replace("\n", " "))


def _cell(text: str) -> str:
    return _text(text)


def _code(text: str) -> str:
    """An inline code span that holds any text: a fence longer than any backtick run inside."""
    text = str(text).replace("\r", " ").replace("\n", " ")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _url(src: str) -> str:
    """A relative link target, percent-encoded (a name with spaces, parentheses or ``<`` stays one link)."""
    from urllib.parse import quote

    return quote(str(src), safe="/")


def _inline(parts: tuple[Inline, ...]) -> str:
    return "".join(_code(p.text) if isinstance(p, Code) else _text(p) for p in parts)


def _emphasis(text: str, emphasis: str) -> str:
    """Escaped cell text marked as papers do: the best bold, the second underlined."""
    if not text:
        return text
    return f"**{text}**" if emphasis == "best" else f"<u>{text}</u>" if emphasis == "second" else text


def _table(t: Table) -> str:
    from tabulate import tabulate

    rows = [[_emphasis(_cell(c.text), c.emphasis) + (f" {_cell(c.note)}" if c.note else "") for c in r]
            for r in t.rows]
    return tabulate(rows, headers=[_cell(h) for h in t.headers], tablefmt="github", disable_numparse=True)


def _block(b) -> str:
    if isinstance(b, Paragraph):
        return _inline(b.parts)
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Items):
        return "\n".join("- " + _inline(item) for item in b.items)
    if isinstance(b, Figure):
        return f"![{_text(b.alt)}]({_url(b.src)})"
    if isinstance(b, Preformatted):            # a fence longer than any backtick run inside
        text = str(b.text).replace("\r", "")
        fence = "`" * max(3, max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
        return f"{fence}text\n{text.rstrip()}\n{fence}"
    raise TypeError(f"unknown block {type(b).__name__}")


def render_markdown(doc: Document) -> str:
    """The document as Markdown: a title, its intro, then one ``##`` section after another."""
    lines = [f"# {_text(doc.title)}", ""]
    for b in doc.intro:
        lines += [_block(b), ""]
    for s in doc.sections:
        lines += [f"## {_text(s.title)}", ""]
        for b in s.blocks:
            lines += [_block(b), ""]
    return "\n".join(lines)
