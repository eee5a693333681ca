"""Open the built site in headless Chromium and check it as a reader would see it.

    python docs/check_site.py [--html docs/_build/html] [--screenshots DIR]

Every HTML page of the build is loaded from disk (file://) in one headless Chromium (Debian's
``chromium``), driven over the DevTools protocol on a pipe (no port, no network), and checked:

- the page loads, with no resource that fails to load and no request leaving the machine
  (MathJax and its fonts come from the build's ``_static/mathjax``, not a CDN);
- every image decodes (``naturalWidth > 0`` after ``img.decode()``);
- every internal link resolves: the file exists and, for ``page.html#anchor``, the anchor is
  an element id of that page;
- the math is rendered: every ``.math`` element holds MathJax's CommonHTML output and no
  MathJax error.

It prints one line per failure and ends with ``site: N passed, M failed`` (N pages); the exit
code is 1 if any page failed. With ``--screenshots DIR`` it also saves PNGs of the front page,
the ``kl_divergence`` API page, a theory page and the gallery index.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
]

SCREENSHOTS = {
    "front_page": "index.html",
    "kl_divergence": "api/generated/klvae.measures.kl_divergence.html",
    "theory_kl_gaussian": "theory/kl_gaussian.html",
    "gallery_index": "auto_examples/index.html",
}

# run in the page once it has loaded: waits for MathJax and the images, then reports
PROBE = r"""
(async () => {
  const math = [...document.querySelectorAll('.math')];
  if (math.length && window.MathJax && MathJax.Hub) {
    await new Promise(resolve => MathJax.Hub.Queue(resolve));
  }
  const images = [...document.images];
  await Promise.all(images.map(img => img.decode().catch(() => null)));
  return {
    math: math.length,
    mathjax: !!(window.MathJax && window.MathJax.Hub),
    unrendered: math.filter(m => !m.querySelector('.MathJax_CHTML')).map(m => m.textContent.slice(0, 60)),
    errors: document.querySelectorAll('.MathJax_Error, merror').length,
    images: images.map(img => ({src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0})),
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  };
})()
"""


class Browser:
    """One headless Chromium, spoken to over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, executable: str):
        self.profile = tempfile.mkdtemp(prefix="klvae-chromium-")
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def pipes_on_3_and_4():
            # through high numbers first: a pipe may already sit on fd 3 or 4 (and be close-on-exec)
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 64) for fd in (to_child_r, from_child_w)]
            os.dup2(high[0], 3)  # inheritable
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pipes_on_3_and_4,
            close_fds=False,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable", session=True)
        metrics = {"width": 1280, "height": 1000, "deviceScaleFactor": 1, "mobile": False}
        self.call("Emulation.setDeviceMetricsOverride", metrics, session=True)

    def _read(self) -> dict:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, *, session: bool = False) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > deadline:
                raise TimeoutError(method)
            self.events.append(self._read())

    def open(self, url: str) -> tuple[dict, list[str]]:
        """Load url, run the probe; returns its report and the page's failed or outside requests."""
        self.events = []
        result = self.call("Page.navigate", {"url": url}, session=True)
        if result.get("errorText"):
            return {}, [f"navigation failed: {result['errorText']}"]
        self.wait_for("Page.loadEventFired")
        probe = {"expression": PROBE, "awaitPromise": True, "returnByValue": True}
        report = self.call("Runtime.evaluate", probe, session=True)
        if "exceptionDetails" in report:
            return {}, [f"probe failed: {report['exceptionDetails'].get('text')}"]
        problems = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Network.requestWillBeSent":
                request_url = params["request"]["url"]
                if not request_url.startswith(("file:", "data:", "about:", "blob:")):
                    problems.append(f"request leaves the machine: {request_url}")
            elif event.get("method") == "Network.loadingFailed" and not params.get("canceled"):
                problems.append(f"resource failed to load: {params.get('errorText')} ({params.get('type')})")
        return report["result"]["value"], problems

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", {"format": "png"}, session=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (RuntimeError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


def local_target(href: str, root: Path) -> tuple[Path, str] | None:
    """(file, anchor) for a link into the site; None for links elsewhere."""
    parts = urlsplit(href)
    if parts.scheme != "file":
        return None
    path = Path(unquote(parts.path))
    if path.is_dir():
        path = path / "index.html"
    return path, unquote(parts.fragment)


def check(root: Path, chromium: str, screenshots: Path | None) -> int:
    pages = sorted(p for p in root.rglob("*.html") if "_static" not in p.parts and "_sources" not in p.parts)
    if not pages:
        print(f"site: no HTML pages under {root}; run `make docs` first")
        return 1
    browser = Browser(chromium)
    reports, failures = {}, {}
    try:
        for page in pages:
            report, problems = browser.open(page.as_uri())
            reports[page] = report
            if report:
                for image in report["images"]:
                    if not image["ok"]:
                        problems.append(f"image does not decode: {image['src']}")
                if report["math"] and not report["mathjax"]:
                    problems.append("math on the page but MathJax did not load")
                for text in report["unrendered"]:
                    problems.append(f"math not rendered: {text!r}")
                if report["errors"]:
                    problems.append(f"{report['errors']} MathJax errors")
            failures[page] = problems
        if screenshots is not None:
            screenshots.mkdir(parents=True, exist_ok=True)
            for name, rel in SCREENSHOTS.items():
                browser.open((root / rel).as_uri())
                browser.screenshot(screenshots / f"{name}.png")
    finally:
        browser.close()

    ids = {page.resolve(): set(report.get("ids", [])) for page, report in reports.items()}
    for page, report in reports.items():
        for href in report.get("links", []):
            target = local_target(href, root)
            if target is None:
                continue
            path, anchor = target
            if not path.exists():
                failures[page].append(f"broken link: {href}")
            elif anchor and path.suffix == ".html" and anchor not in ids.get(path.resolve(), set()):
                failures[page].append(f"missing anchor: {href}")

    failed = 0
    for page, problems in failures.items():
        for problem in dict.fromkeys(problems):
            print(f"{page.relative_to(root)}: {problem}")
        failed += bool(problems)
    images = sum(len(r.get("images", [])) for r in reports.values())
    math = sum(r.get("math", 0) for r in reports.values())
    print(f"checked {len(pages)} pages, {images} images, {math} formulas")
    print(f"site: {len(pages) - failed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=Path(__file__).resolve().parent / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    args = parser.parse_args(argv)
    return check(args.html.resolve(), args.chromium, args.screenshots)


if __name__ == "__main__":
    sys.exit(main())
