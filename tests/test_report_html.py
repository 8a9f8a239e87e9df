from qbench.report import write_reports
from qbench.report.html import SCRIPT
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import basic_suite


def test_html_leaderboard_escapes_user_text(image_folder, tmp_path):
    data = basic_suite(image_folder, description="<script>alert(1)</script> & co",
                       solvers=[{"name": "identity", "label": "<b>id</b>"}])
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    page = (out / "leaderboard.html").read_text()
    own = f"<script>{SCRIPT}</script>"                # the page's one script: sorting and filtering
    assert page.count(own) == 1
    page = page.replace(own, "")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in page
    assert "<b>id</b>" not in page and "&lt;b&gt;id&lt;/b&gt;" in page
    table = page[page.index("<table class='leaderboard'>"):]
    assert table[:table.index("</table>")].count("<tr>") == 3  # header + two quality rows
