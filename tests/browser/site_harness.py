"""Open the built course website (`make site`) in a real Chromium and list what is wrong on a page.

Used by ``tests/browser/test_site_in_browser.py``; by hand: ``python tests/browser/site_harness.py``
checks every page of ``build/site/_build/html`` and prints the problems.

- ``SiteServer`` serves the built site over HTTP on 127.0.0.1 (a free port), as a web host would:
  pages opened from ``file://`` behave differently (fonts, fetches), and no reader sees them that way.
- ``check_page`` opens one page and returns its problems, one sentence each: a console error or an
  uncaught exception, a local file that failed to load, a local image that is missing or empty, a link
  to a local page or anchor that does not exist, an equation MathJax did not typeset (raw ``$$``,
  ``\\(``, ``\\[`` or ``$...$`` left in the text) or typeset as an error, and any request to another
  host except the launch badges' images. Those (mybinder.org, Colab) cannot load offline; the check
  blocks them and reports them as skipped, so the result is the same on- and offline.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import sys
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("build_site", ROOT / "tools" / "build_site.py")
build_site = sys.modules["build_site"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)

SITE = build_site.html_dir()
ARTIFACTS = ROOT / "artifacts" / "site"  # git-ignored: screenshots of the site
# Hosts whose images a page may show without the site depending on them: the launch badges.
BADGE_HOSTS = {"mybinder.org", "colab.research.google.com"}
MATHJAX_TIMEOUT_MS = 30_000

# Text a reader would see that still looks like TeX, outside code, scripts and typeset math.
RAW_MATH_JS = r"""
() => {
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight';
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const found = [];
  const raw = /\$\$|\\\(|\\\)|\\\[|\\\]|\\begin\{|\$[^\s$][^$\n]*\$/;
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest(skip)) continue;
    const text = n.textContent.trim(), m = text.match(raw);
    if (m) found.push(text.slice(Math.max(0, m.index - 30), m.index + 50));
  }
  return found;
}
"""

# Wait for MathJax (when the page loads it) to finish typesetting; errors are mjx-merror nodes.
MATHJAX_JS = """
async () => {
  if (!window.MathJax) return { loaded: false, errors: [] };
  if (!MathJax.startup || !MathJax.startup.promise) return { loaded: false, errors: ['MathJax did not start'] };
  await MathJax.startup.promise;
  const errors = [...document.querySelectorAll('mjx-merror')].map(
    (e) => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  return { loaded: true, typeset: document.querySelectorAll('mjx-container').length, errors };
}
"""

# Every image once loaded (lazy ones made eager), with whether it shows pixels.
IMAGES_JS = """
async () => {
  const imgs = [...document.images];
  imgs.forEach((i) => { i.loading = 'eager'; });
  await Promise.all(imgs.map((i) => i.complete ? null : new Promise((r) => { i.onload = i.onerror = r; })));
  return imgs.map((i) => ({ src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0, alt: i.alt }));
}
"""

LINKS_JS = "() => [...document.querySelectorAll('a[href]')].map((a) => a.href)"

# Badge images on other hosts that the checks of the built site did not load, by page name: the test
# session lists them at its end.
SKIPPED: dict[str, list[str]] = {}


class SiteServer:
    """The built site over HTTP on 127.0.0.1, in a background thread; ``url`` is its root."""

    def __init__(self, site: Path = SITE) -> None:
        if not (site / "index.html").is_file():
            raise FileNotFoundError(f"no built site at {site}: run `make site`")
        self.site = site

        class Quiet(SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:  # one line per request would bury the test output
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> SiteServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def site_problem(site: Path = SITE, notebooks: Path = ROOT / "notebooks") -> str | None:
    """Why the built site cannot be tested as the course's site (missing, or built from other notebooks
    than the committed ones), or None. The site's downloadable copy of each lecture is the committed
    file byte for byte (tools/build_site.py), so comparing the two tells whether the site is current."""
    if not (site / "index.html").is_file():
        return f"no built site at {site.relative_to(ROOT)}: run `make site`"
    committed = {p.name: p.read_bytes() for p in notebooks.glob("[0-9][0-9]_*.ipynb")}
    built = {p.name: p.read_bytes() for p in (site / "_sources").glob("[0-9][0-9]_*.ipynb")}
    differ = sorted(name for name in committed.keys() | built.keys() if committed.get(name) != built.get(name))
    if differ:
        return f"the built site is older than notebooks/ ({', '.join(differ)} differ): run `make site`"
    return None


def pages(site: Path = SITE) -> list[Path]:
    """Every page of the site: the HTML files at its top level (``_static`` holds only theme templates)."""
    return sorted(site.glob("*.html"))


@dataclass
class PageReport:
    page: str
    problems: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # badge images on other hosts, not loaded
    links: list[str] = field(default_factory=list)  # every link target, absolute
    equations: int = 0  # typeset by MathJax


class _Anchors:
    """The ids of each local page, read from the built files (so links into other pages are checked too)."""

    def __init__(self, site: Path) -> None:
        self.site, self._ids = site, {}

    def has(self, file: Path, fragment: str) -> bool:
        if file not in self._ids:
            self._ids[file] = set(re.findall(r'\bid="([^"]+)"', file.read_text(encoding="utf-8", errors="replace")))
        return fragment in self._ids[file]


def _local_file(site: Path, base: str, url: str) -> Path | None:
    """The file a local URL serves (a folder serves its index.html), or None if the URL is not local."""
    if not url.startswith(base):
        return None
    path = unquote(urlsplit(url).path)[len(urlsplit(base).path) :]
    file = site / path
    return file / "index.html" if file.is_dir() else file


def check_page(page, server: SiteServer, file: Path, anchors: _Anchors | None = None) -> PageReport:
    """Open ``file`` of the served site in ``page`` (a fresh Playwright page: the handlers this installs
    stay on it) and list its problems."""
    base, site = server.url, server.site
    anchors = anchors or _Anchors(site)
    report = PageReport(file.name)
    blocked: set[str] = set()

    def route(r) -> None:
        url, kind = r.request.url, r.request.resource_type
        if url.startswith(base) or url.startswith("data:"):
            r.continue_()
            return
        blocked.add(url)
        if kind == "image" and urlsplit(url).hostname in BADGE_HOSTS:
            report.skipped.append(url)
        else:
            report.problems.append(f"loads {kind} {url} from another host (the site must work offline)")
        r.abort("blockedbyclient")

    def console(msg) -> None:
        # "Failed to load resource" repeats what the request handlers below report, more precisely
        if msg.type == "error" and not msg.text.startswith("Failed to load resource"):
            report.problems.append(f"console error: {msg.text} ({(msg.location or {}).get('url', '')})")

    def failed(req) -> None:
        if req.url not in blocked:
            report.problems.append(f"failed to load {req.url}: {req.failure}")

    def response(resp) -> None:
        if resp.status >= 400:
            report.problems.append(f"HTTP {resp.status} for {resp.url}")

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda exc: report.problems.append(f"uncaught exception: {exc}"))
    page.on("requestfailed", failed)
    page.on("response", response)
    page.set_default_timeout(MATHJAX_TIMEOUT_MS)
    page.goto(base + file.name, wait_until="load")
    math = page.evaluate(MATHJAX_JS)
    report.equations = math.get("typeset", 0)
    report.problems += [f"MathJax error: {e}" for e in math["errors"]]
    report.problems += [f"equation left as raw TeX: {t!r}" for t in page.evaluate(RAW_MATH_JS)]
    for img in page.evaluate(IMAGES_JS):
        if not img["ok"] and img["src"] not in blocked:
            report.problems.append(f"image does not load: {img['src']} (alt {img['alt']!r})")
    report.links = page.evaluate(LINKS_JS)
    for url in report.links:
        target = _local_file(site, base, url)
        if target is None:
            continue
        fragment = unquote(urlsplit(url).fragment)
        if not target.is_file():
            report.problems.append(f"link to a missing file: {url}")
        elif fragment and target.suffix == ".html" and not anchors.has(target, fragment):
            report.problems.append(f"link to a missing anchor: {url}")
    return report


def main() -> int:
    from lab_harness import CHROMIUM_FLAGS, VIEWPORT, find_chromium
    from playwright.sync_api import sync_playwright

    bad = 0
    with SiteServer() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport=VIEWPORT)
        anchors = _Anchors(server.site)
        for file in pages(server.site):
            page = context.new_page()
            report = check_page(page, server, file, anchors)
            page.close()
            bad += bool(report.problems)
            print(f"{file.name}: {len(report.problems)} problems, {report.equations} equations, "
                  f"{len(report.skipped)} badge images skipped")  # fmt: skip
            for problem in report.problems:
                print("   ", problem)
        browser.close()
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
