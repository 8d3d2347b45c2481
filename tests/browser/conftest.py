"""Fixtures for the real-browser tests: one JupyterLab server and one Chromium for the whole session.

Chromium comes from the system (Debian: ``apt-get install chromium``); Playwright never downloads a
browser here. Without Chromium the tests skip and say how to enable them, except under ``CI=true``,
where a missing browser fails the run. Screenshots and the latency table go to ``artifacts/browser/``
(git-ignored).
"""

from __future__ import annotations

import os

import pytest
from lab_harness import (
    ARTIFACTS,
    CHROMIUM_FLAGS,
    FIXTURES,
    INIT_SCRIPT,
    PAGE_HELPERS,
    ROOT,
    VIEWPORT,
    BrowserUnavailable,
    LabServer,
    LectureResult,
    find_chromium,
    latency_table,
    slider_notebooks,
)

# The fixture notebooks are driven in the browser, not compared by nbval.
collect_ignore_glob = ["fixtures/*"]

_RESULTS: list[LectureResult] = []


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"CI=true but the browser tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}")


@pytest.fixture(scope="session")
def chromium_path() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the `playwright` Python package is missing: `pip install -r requirements.txt`")
    try:
        return find_chromium()
    except BrowserUnavailable as exc:
        _unavailable(str(exc))


@pytest.fixture(scope="session")
def lab_server(chromium_path: str):
    """JupyterLab serving copies of the fixtures and of every lecture with sliders."""
    notebooks = [*sorted(FIXTURES.glob("*.ipynb")), *slider_notebooks(ROOT)]
    with LabServer(notebooks) as lab:
        yield lab


@pytest.fixture(scope="session")
def site_server(chromium_path: str):
    """The built course website (`make site`) on 127.0.0.1; skipped (failed under CI=true) when it is
    missing or was built from other notebooks than the committed ones."""
    from site_harness import SITE, SiteServer, site_problem

    problem = site_problem(SITE)
    if problem:
        _unavailable(problem)
    with SiteServer(SITE) as server:
        yield server


def _site_summary(terminalreporter) -> None:
    """The badge images on other hosts that the site check did not load, page by page."""
    from site_harness import SKIPPED

    by_url: dict[str, list[str]] = {}
    for page, urls in sorted(SKIPPED.items()):
        for url in sorted(set(urls)):
            by_url.setdefault(url, []).append(page)
    if by_url:
        terminalreporter.write_sep("-", "course website: images on other hosts, not loaded (they may be offline)")
        for url, on in by_url.items():
            terminalreporter.write_line(f"{url}: on {len(on)} pages ({', '.join(on)})")


@pytest.fixture(scope="session")
def browser(chromium_path: str):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium_path, args=CHROMIUM_FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="session")
def _session_page(browser):
    """One page for the session: JupyterLab loads once, each test opens its notebook in it."""
    holder = {"context": None, "page": None}

    def get():
        if holder["page"] is None or holder["page"].is_closed():
            if holder["context"] is not None:
                holder["context"].close()
            ctx = browser.new_context(viewport=VIEWPORT)
            ctx.add_init_script(INIT_SCRIPT + PAGE_HELPERS)
            holder["context"], holder["page"] = ctx, ctx.new_page()
        return holder["page"]

    yield get
    if holder["context"] is not None:
        holder["context"].close()


@pytest.fixture
def lab_page(_session_page, lab_server, request):
    """The session's page, with the notebook closed and every kernel shut down afterwards."""
    page = _session_page()
    yield page
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    if failed and not page.is_closed():
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"FAILED-{request.node.name}.png".replace("/", "_")))
    try:
        if not page.is_closed():
            page.evaluate(
                """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
                     if (w && w.context) { w.context.model.dirty = false; w.close(); } }"""
            )
    except Exception:  # a broken page is replaced by the next test's _session_page()
        page.close()
    lab_server.shutdown_kernels()


@pytest.fixture
def latency_results() -> list[LectureResult]:
    return _RESULTS


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, f"rep_{rep.when}", rep)
    return rep


def pytest_terminal_summary(terminalreporter):
    _site_summary(terminalreporter)
    if not _RESULTS:
        return
    table = latency_table(_RESULTS)
    terminalreporter.write_sep("-", "slider key press -> repainted figure, in Chromium (goal: median <= 100 ms)")
    terminalreporter.write_line(table)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "latency.md").write_text(table + "\n")
    terminalreporter.write_line(f"screenshots and this table: {ARTIFACTS.relative_to(ROOT)}/")
