"""Open a leaderboard.html in headless Chromium: screenshot, console messages, loaded figures.

    python benchmarks/bench_html_chromium.py                 # runs a tiny suite, then checks its page
    python benchmarks/bench_html_chromium.py runs/x/leaderboard.html
    python benchmarks/bench_html_chromium.py runs/x/leaderboard.html --fragment dataset-kodak \
        --screenshot benchmarks/results/leaderboard_html_chromium_panel.png     # scrolled to a section

Writes the screenshot to ``benchmarks/results/leaderboard_html_chromium.png`` and prints what the
browser saw: every ``<img>`` with its natural size (0 = not loaded), the number of tables and
script elements, console messages, and how many distinct colours the screenshot has.
Needs a ``chromium`` (or ``chromium-browser`` / ``google-chrome``) binary on PATH.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCREENSHOT = HERE / "results" / "leaderboard_html_chromium.png"

# Loaded in an iframe beside the page (same folder, file access allowed): reports what the
# browser made of every image and how many tables and scripts the page has.
PROBE = """<!doctype html><html><body><pre id="out">pending</pre>
<iframe id="f" src="{page}" width="1280" height="2000"></iframe>
<script>
document.getElementById('f').addEventListener('load', function () {{
  var r = {{images: [], tables: 0, scripts: 0, error: null}};
  try {{
    var doc = this.contentDocument;
    doc.querySelectorAll('img').forEach(function (img) {{
      r.images.push({{src: img.getAttribute('src'), complete: img.complete, width: img.naturalWidth,
                      height: img.naturalHeight}});
    }});
    r.tables = doc.querySelectorAll('table').length;
    r.scripts = doc.querySelectorAll('script').length;
    var el = {fragment} ? doc.getElementById({fragment}) : null;
    r.fragment_top = el ? Math.max(0, Math.round(el.getBoundingClientRect().top) - 8) : 0;
  }} catch (e) {{ r.error = String(e); }}
  document.getElementById('out').textContent = 'PROBE' + JSON.stringify(r) + 'PROBE';
}});
</script></body></html>
"""


def find_chromium() -> str | None:
    """The path of a Chromium-family browser, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(browser: str, args: list[str], profile: Path, timeout: float) -> subprocess.CompletedProcess:
    base = [browser, "--headless=new", "--disable-gpu", "--no-sandbox", "--no-first-run",
            "--disable-extensions", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    return subprocess.run(base + args, capture_output=True, text=True, timeout=timeout, check=False)


def check_page(html: Path, screenshot: Path, browser: str | None = None, timeout: float = 90.0,
               fragment: str = "") -> dict:
    """Render ``html`` headless: save a 1280x2000 screenshot (from the top of the element whose id
    is ``fragment``, when given) and report images, tables, console."""
    from PIL import Image

    browser = browser or find_chromium()
    if browser is None:
        raise FileNotFoundError("no chromium binary on PATH")
    html = html.resolve()
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qbench-chromium-") as tmp:
        probe_path = html.with_name(".chromium_probe.html")
        probe_path.write_text(PROBE.format(page=html.name, fragment=json.dumps(fragment)), encoding="utf-8")
        try:
            dom = _chromium(browser, ["--allow-file-access-from-files", "--virtual-time-budget=5000",
                                      "--dump-dom", probe_path.as_uri()], Path(tmp) / "p2", timeout)
        finally:
            probe_path.unlink(missing_ok=True)
        found = re.search(r"PROBE(.*?)PROBE", dom.stdout, re.S)
        probe = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&")) if found else {
            "error": f"probe did not report (exit {dom.returncode}): {dom.stderr[-500:]}"}
        top = int(probe.get("fragment_top") or 0)       # a section's screenshot: a taller window, cropped
        shot = _chromium(browser, [f"--screenshot={screenshot}", f"--window-size=1280,{2000 + top}",
                                   "--virtual-time-budget=5000", html.as_uri()], Path(tmp) / "p1", timeout)
    if top and screenshot.is_file():
        with Image.open(screenshot) as im:
            im.crop((0, top, 1280, top + 2000)).save(screenshot)
    console = [line for line in shot.stderr.splitlines() if ":CONSOLE" in line]
    result = {"screenshot": str(screenshot), "screenshot_exit": shot.returncode, "console": console, **probe}
    if screenshot.is_file():
        with Image.open(screenshot) as im:
            rgb = im.convert("RGB")
            result["size"] = list(rgb.size)
            result["distinct_colours"] = len(rgb.getcolors(maxcolors=1 << 24) or [])
    return result


def _tiny_run(out: Path) -> Path:
    """A small real run (embedded images, two metrics: two RD figures) with its reports."""
    from qbench.report import write_reports
    from qbench.runner import Runner
    from qbench.suite import parse_suite

    suite = parse_suite({
        "name": "html-check", "datasets": [{"name": "skimage-samples", "limit": 2}],
        "codecs": [{"name": "jpeg", "qualities": [10, 30, 60]}],
        "solvers": ["identity", "gaussian"], "metrics": ["psnr_rgb", "psnr_y"],
        "output": {"bootstrap": 100, "bd_bootstrap": 0}})
    Runner(suite, out, workers=0, progress=False).run()
    write_reports(out)
    return out / "leaderboard.html"


def main(argv: list[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", nargs="?", type=Path, help="an HTML report (default: a tiny run's leaderboard)")
    ap.add_argument("--screenshot", type=Path, default=SCREENSHOT, help=f"where the screenshot goes ({SCREENSHOT})")
    ap.add_argument("--fragment", default="", help="scroll the screenshot to the element with this id (e.g. dataset-kodak)")
    args = ap.parse_args(argv)
    html = args.page or _tiny_run(Path(tempfile.mkdtemp(prefix="qbench-html-")) / "out")
    result = check_page(html, args.screenshot, fragment=args.fragment)
    print(json.dumps(result, indent=2))
    loaded = [i for i in result.get("images", []) if i["width"] > 0]
    ok = (not result["console"] and result.get("scripts") == 1 and result.get("images")
          and len(loaded) == len(result["images"]) and result.get("distinct_colours", 0) > 16)
    print("page ok" if ok else "page has problems")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
