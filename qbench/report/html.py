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
figure.wide{display:block} figure.wide img{max-width:100%}
th{cursor:pointer;user-select:none} th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"} td u{text-decoration-thickness:2px}
#filters{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ddd}
"""

#: sorts any table by a clicked header (numbers by value, "–"/"n/a" last) and filters the rows of
#: tables with a dataset or codec column by the selects it builds; inline, no network
SCRIPT = r"""
(function () {
  function key(td) {
    var t = td.textContent.trim(), m = t.match(/^[=+]?(-?[0-9.]+(?:e[-+]?[0-9]+)?|[-+]?inf)/i);
    if (m) { var v = parseFloat(m[1].replace(/^\+/, '')); if (/inf/i.test(m[1])) v = m[1][0] === '-' ? -Infinity : Infinity; return [0, v]; }
    if (t === '–' || t === 'n/a' || t === '') return [2, 0];
    return [1, t.toLowerCase()];
  }
  function cmp(a, b) { return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0); }
  document.querySelectorAll('table').forEach(function (table) {
    var heads = table.querySelectorAll('thead th');
    heads.forEach(function (th, i) {
      th.addEventListener('click', function () {
        var asc = th.getAttribute('aria-sort') !== 'ascending';
        heads.forEach(function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
        var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var ka = key(a.cells[i]), kb = key(b.cells[i]);
          if (ka[0] === 2 || kb[0] === 2) return ka[0] - kb[0];
          return asc ? cmp(ka, kb) : cmp(kb, ka);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  var bar = document.getElementById('filters');
  if (!bar) return;
  var picks = {dataset: '', codec: ''};
  function apply() {
    document.querySelectorAll('table').forEach(function (table) {
      var idx = {};
      table.querySelectorAll('thead th').forEach(function (th, i) { idx[th.textContent.trim()] = i; });
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) {
        var show = Object.keys(picks).every(function (k) {
          return !picks[k] || idx[k] === undefined || r.cells[idx[k]].textContent === picks[k];
        });
        r.style.display = show ? '' : 'none';
      });
    });
  }
  Object.keys(picks).forEach(function (k) {
    var seen = {};
    document.querySelectorAll('table').forEach(function (table) {
      var i = -1;
      table.querySelectorAll('thead th').forEach(function (th, j) { if (th.textContent.trim() === k) i = j; });
      if (i < 0) return;
      Array.prototype.forEach.call(table.tBodies[0].rows, function (r) { seen[r.cells[i].textContent] = 1; });
    });
    var names = Object.keys(seen).sort();
    if (names.length < 2) return;
    var label = document.createElement('label'), sel = document.createElement('select');
    label.textContent = k + ' ';
    sel.id = 'filter-' + k;
    sel.appendChild(new Option('all', ''));
    names.forEach(function (n) { sel.appendChild(new Option(n, n)); });
    sel.addEventListener('change', function () { picks[k] = sel.value; apply(); });
    label.appendChild(sel);
    bar.appendChild(label);
    bar.appendChild(document.createTextNode(' '));
  });
})();
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
        cells = "".join(f"<td{cls(i)}>{_emphasis(c)}" + (f" <span class='ci'>{_e(c.note)}</span>" if c.note else "")
                        + "</td>" for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    kind = f" class='{_e(t.kind)}'" if t.kind else ""
    return f"<table{kind}>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody></table>"


def _emphasis(c) -> str:
    """A cell's escaped text, bold when best and underlined when second."""
    if c.emphasis == "best":
        return f"<strong>{_e(c.text)}</strong>"
    if c.emphasis == "second":
        return f"<u>{_e(c.text)}</u>"
    return _e(c.text)


def _block(b) -> str:
    if isinstance(b, Paragraph):
        return f"<p>{_inline(b.parts)}</p>"
    if isinstance(b, Table):
        return _table(b)
    if isinstance(b, Items):
        return "<ul>" + "".join(f"<li>{_inline(item)}</li>" for item in b.items) + "</ul>"
    if isinstance(b, Figure):
        src = _e(quote(str(b.src), safe="/"))       # a file name with '#', '?' or spaces stays one link
        wide = " class='wide'" if b.wide else ""
        return (f"<figure{wide}><a href='{src}'><img src='{src}' alt='{_e(b.alt)}'></a>"
                f"<figcaption>{_e(b.alt)}</figcaption></figure>")
    if isinstance(b, Preformatted):
        return f"<pre>{_e(b.text)}</pre>"
    raise TypeError(f"unknown block {type(b).__name__}")


def render_html(doc: Document) -> str:
    """The document as an HTML page (inline CSS and the sort/filter :data:`SCRIPT`; figures are
    linked files beside the page)."""
    parts = [(f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(doc.title)}</title>"
             f"<style>{CSS}</style></head><body>"), f"<h1>{_e(doc.title)}</h1>"]
    parts += [_block(b) for b in doc.intro]
    parts.append("<div id='filters'></div>")
    for s in doc.sections:
        ident = f" id='{_e(s.anchor)}'" if s.anchor else ""
        parts.append(f"<h2{ident}>{_e(s.title)}</h2>")
        parts += [_block(b) for b in s.blocks]
    parts.append(f"<script>{SCRIPT}</script>")
    parts.append("</body></html>")
    return "\n".join(parts)
