"""The HTML leaderboard in a real browser (headless Chromium): it renders, its RD figures load,
its console stays quiet, and hostile names stay text. Skipped when no Chromium is installed."""

from __future__ import annotations

import importlib.util

import pytest

from qbench.report import write_reports
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import REPO, save, smooth_image

spec = importlib.util.spec_from_file_location("bench_html_chromium", REPO / "benchmarks" / "bench_html_chromium.py")
chromium_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chromium_check)

BROWSER = chromium_check.find_chromium()
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium binary on PATH (apt-get install chromium)")

HOSTILE = "<img src=x onerror=\"console.error('xss')\"><script>console.error('xss2')</script>"


def test_leaderboard_renders_in_chromium(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(60 + i, 48, 64), folder / f"im{i}.png")
    data = {"name": "browser", "description": HOSTILE,
            "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [15, 40, 80]}],
            "solvers": ["identity", {"name": "gaussian", "label": HOSTILE}],
            "metrics": ["psnr_rgb", "psnr_y"], "output": {"bootstrap": 20, "bd_bootstrap": 0}}
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    result = chromium_check.check_page(out / "leaderboard.html", tmp_path / "shot.png", BROWSER)
    assert result.get("error") is None, result
    assert result["console"] == [], result["console"]        # no script ran, nothing failed to parse
    assert result["scripts"] == 1 and result["tables"] >= 3, result     # the page's own sort/filter script
    srcs = sorted(i["src"] for i in result["images"])
    # the RD figures and the visual comparison panel, no injected <img>
    assert srcs == ["figures/panels/panel_imgs.png", "rd_imgs_psnr_rgb.svg", "rd_imgs_psnr_y.svg"], result["images"]
    assert all(i["complete"] and i["width"] > 100 and i["height"] > 100 for i in result["images"]), result
    assert result["size"] == [1280, 2000] and result["distinct_colours"] > 16, result
    with Image.open(tmp_path / "shot.png") as im:       # the top of the page is not blank
        top = im.convert("L").crop((0, 0, 1280, 600))
        assert top.getextrema()[0] < 100 and top.getextrema()[1] > 200


SORT_PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{page}" width="1280" height="2000"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {{
  var r = {{error: null}};
  try {{
    var doc = this.contentDocument, t = doc.querySelector('table.ranking');
    var heads = Array.prototype.slice.call(t.querySelectorAll('thead th'));
    var names = heads.map(function (h) {{ return h.textContent.trim(); }});
    function col(name) {{
      var i = names.indexOf(name);
      return Array.prototype.filter.call(t.tBodies[0].rows, function (x) {{ return x.style.display !== 'none'; }})
        .map(function (x) {{ return x.cells[i].textContent; }});
    }}
    r.before = col('solver');
    heads[names.indexOf('solver')].click();
    r.after = col('solver');
    heads[names.indexOf('solver')].click();
    r.reversed = col('solver');
    var sel = doc.getElementById('filter-codec');
    r.codecs = sel ? Array.prototype.map.call(sel.options, function (o) {{ return o.value; }}) : null;
    if (sel) {{ sel.value = 'webp'; sel.dispatchEvent(new Event('change')); r.filtered = col('codec'); }}
  }} catch (e) {{ r.error = String(e); }}
  document.getElementById('out').textContent = 'PROBE' + JSON.stringify(r) + 'PROBE';
}});
</script></body></html>
"""


def test_clicking_a_header_sorts_and_the_codec_filter_hides_rows(tmp_path):
    import json
    import re

    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(70 + i, 48, 64), folder / f"im{i}.png")
    data = {"name": "sorting", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [15, 60]}, {"name": "webp", "qualities": [20, 70]}],
            "solvers": ["identity", "gaussian"], "metrics": ["psnr_rgb"],
            "output": {"bootstrap": 20, "bd_bootstrap": 0}}
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out)
    probe = out / "probe.html"
    probe.write_text(SORT_PROBE.format(page="leaderboard.html"), encoding="utf-8")
    dom = chromium_check._chromium(BROWSER, ["--allow-file-access-from-files", "--virtual-time-budget=5000",
                                             "--dump-dom", probe.as_uri()], tmp_path / "profile", 90)
    found = re.search(r"PROBE(.*?)PROBE", dom.stdout, re.S)
    assert found, dom.stderr[-500:]
    r = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert r["error"] is None, r
    assert r["before"] != r["after"] and r["after"] == sorted(r["before"]), r      # ranked order, then by solver
    assert r["reversed"] == sorted(r["before"], reverse=True), r
    assert r["codecs"] == ["", "jpeg", "webp"] and r["filtered"] and set(r["filtered"]) == {"webp"}, r


PANEL_PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{page}" width="1280" height="2000"></iframe>
<script>
var r = {{error: null, panels: []}}, loads = 0;
function done() {{ document.getElementById('out').textContent = 'PROBE' + JSON.stringify(r) + 'PROBE'; }}
document.getElementById('f').addEventListener('load', function () {{
  loads += 1;
  try {{
    var doc = this.contentDocument;
    if (loads === 1) {{
      var imgs = Array.prototype.filter.call(doc.querySelectorAll('img'), function (i) {{
        return i.getAttribute('src').indexOf('figures/panels/') === 0; }});
      r.panels = imgs.map(function (i) {{
        var a = i.closest('a');
        return {{src: i.getAttribute('src'), natural: i.naturalWidth, shown: i.width,
                 href: a ? a.getAttribute('href') : null}};
      }});
      if (!imgs.length) {{ done(); return; }}
      imgs[0].click();                       // the click lands on the image inside its link
    }} else {{
      r.opened = this.contentWindow.location.href;
      var img = doc.querySelector('img');
      r.opened_width = img ? img.naturalWidth : 0;
      done();
    }}
  }} catch (e) {{ r.error = String(e); done(); }}
}});
</script></body></html>
"""


def test_panels_load_and_a_click_opens_the_full_resolution_png(tmp_path):
    import json
    import re

    from PIL import Image

    folder = tmp_path / "imgs"
    for i in range(2):
        save(smooth_image(80 + i, 96, 128), folder / f"im{i}.png")
    data = {"name": "panels", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": "jpeg", "qualities": [10, 50]}], "solvers": ["identity", "gaussian", "bilateral"],
            "metrics": ["psnr_rgb"], "output": {"bootstrap": 0, "bd_bootstrap": 0},
            "report": {"examples": ["im0", "im1"]}}
    out = tmp_path / "out"
    Runner(parse_suite(data), out, workers=0, progress=False).run()
    write_reports(out, ("md", "html"))
    probe = out / "probe.html"
    probe.write_text(PANEL_PROBE.format(page="leaderboard.html"), encoding="utf-8")
    dom = chromium_check._chromium(BROWSER, ["--allow-file-access-from-files", "--virtual-time-budget=8000",
                                             "--dump-dom", probe.as_uri()], tmp_path / "profile", 90)
    found = re.search(r"PROBE(.*?)PROBE", dom.stdout, re.S)
    assert found, dom.stderr[-500:]
    r = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert r["error"] is None, r
    assert len(r["panels"]) == 2, r                                   # the automatic choice and the other listed one
    for p in r["panels"]:
        with Image.open(out / p["src"]) as im:
            width = im.size[0]
        assert p["natural"] == width and p["href"] == p["src"] and p["src"].endswith(".png"), p
        assert p["shown"] < width, p                                  # the page shows it smaller than it is
    assert r["opened"].endswith("/" + r["panels"][0]["src"]), r       # the click opened the PNG itself
    with Image.open(out / r["panels"][0]["src"]) as im:
        assert r["opened_width"] == im.size[0], r                     # at full resolution
