"""Open a run's report.html in headless Chromium and check that every image loaded.

    python benchmarks/check_report.py RUN [--screenshot report.png] [--chromium PATH]

Chromium (Debian: `apt-get install chromium`) loads a copy of RUN/report.html with a small
script added at its end; after the page settles the script writes, into the DOM, one record
per <img>: whether it decoded (`naturalWidth` > 0), its natural and displayed size, and its
caption. `--dump-dom` prints that DOM and this script reads the records back. Exit status 0
when every image loaded and is displayed, 1 otherwise (each failure is named), 2 when
Chromium cannot be run. `--screenshot` also saves a full-page PNG to look at.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
]

PROBE = """
<script>
function klvaeCheck() {
  const rows = Array.from(document.images).map((im, i) => {
    const box = im.getBoundingClientRect();
    const fig = im.closest('figure');
    const cap = fig && fig.querySelector('figcaption') ? fig.querySelector('figcaption').textContent : im.alt;
    return {index: i, complete: im.complete, natural: [im.naturalWidth, im.naturalHeight],
            shown: [Math.round(box.width), Math.round(box.height)], caption: cap.slice(0, 80)};
  });
  const out = document.createElement('pre');
  out.id = 'klvae-check';
  out.textContent = JSON.stringify({images: rows, page_width: document.documentElement.scrollWidth,
                                    viewport: window.innerWidth});
  document.body.appendChild(out);
}
window.addEventListener('load', () => setTimeout(klvaeCheck, 0));
</script>
"""


def find_chromium(given: str | None) -> str:
    for name in [given] if given else ["chromium", "chromium-browser", "google-chrome"]:
        path = shutil.which(name) if name else None
        if path:
            return path
    raise FileNotFoundError("no Chromium found: apt-get install chromium (or pass --chromium PATH)")


def check(run: Path, chromium: str, screenshot: Path | None = None) -> tuple[list[str], dict]:
    """(failures, the records) of RUN/report.html rendered by `chromium`."""
    report = run / "report.html"
    text = report.read_text(encoding="utf-8")
    expected = len(re.findall(r"<img\b", text))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "page.html"
        page.write_text(text.replace("</body>", PROBE + "</body>"), encoding="utf-8")
        common = [
            chromium,
            *FLAGS,
            f"--user-data-dir={tmp}/profile",
            "--window-size=1280,900",
            "--virtual-time-budget=10000",
        ]
        done = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
        if screenshot is not None:
            subprocess.run(
                [*common, f"--screenshot={screenshot.resolve()}", page.as_uri()], capture_output=True, timeout=120
            )
    found = re.search(r'<pre id="klvae-check">(.*?)</pre>', done.stdout, re.S)
    if not found:
        return [f"Chromium gave no result (exit {done.returncode}): {done.stderr.strip()[-300:]}"], {}
    result = json.loads(html.unescape(found.group(1)))
    failures = []
    if len(result["images"]) != expected:
        failures.append(f"{expected} <img> in the file, {len(result['images'])} in the page")
    for r in result["images"]:
        if not r["complete"] or r["natural"][0] == 0:
            failures.append(f"image {r['index']} did not load: {r['caption']}")
        elif r["shown"][0] == 0 or r["shown"][1] == 0:
            failures.append(f"image {r['index']} is not displayed: {r['caption']}")
    if result["page_width"] > result["viewport"]:
        failures.append(f"the page is wider ({result['page_width']} px) than the window ({result['viewport']} px)")
    return failures, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="run folder holding report.html")
    parser.add_argument("--screenshot", type=Path, help="also save a full-page PNG here (default none)")
    parser.add_argument("--chromium", help="the browser to run (default chromium on PATH)")
    args = parser.parse_args(argv)
    try:
        chromium = find_chromium(args.chromium)
    except FileNotFoundError as err:
        print(f"check_report: {err}", file=sys.stderr)
        return 2
    failures, result = check(args.run, chromium, args.screenshot)
    for r in result.get("images", []):
        print(
            f"  {'ok ' if r['natural'][0] else 'BAD'} {r['natural'][0]}×{r['natural'][1]} px shown at "
            f"{r['shown'][0]}×{r['shown'][1]}: {r['caption']}"
        )
    for f in failures:
        print(f"FAIL {f}")
    print(f"{args.run / 'report.html'}: " + ("every image loaded" if not failures else f"{len(failures)} failures"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
