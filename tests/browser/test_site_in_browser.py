"""The course website (`make site`) in a real Chromium, served over HTTP on 127.0.0.1.

Every page loads without a console error, shows every local image, links only to local pages and
anchors that exist, and has every equation typeset by MathJax from the site itself (nothing from
another host but the launch badges' images, which are not loaded and are listed after the run). The
landing page maps every lecture; every lecture page has Binder and Colab launch links, a download of
its notebook (the committed file, byte for byte) and links to the previous and next lectures.
Screenshots of the landing page and lecture 01 go to ``artifacts/site/``.

The fixture pages in ``fixtures/site/`` check the check itself: one must pass, the other has one of
each fault it must report.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lab_harness import VIEWPORT
from site_harness import ARTIFACTS, SITE, SKIPPED, PageReport, SiteServer, _Anchors, build_site, check_page, pages

nav = build_site.nav
FIXTURE_SITE = Path(__file__).resolve().parent / "fixtures" / "site"
LECTURES = nav.lectures()
# Collected from the built site when there is one; else one test that skips (fails under CI) and says why.
PAGES = [p.name for p in pages()] or ["index.html"]
SHOTS = {"index.html": "landing.png", "01_first_principles.html": "lecture-01.png"}


@pytest.fixture(scope="module")
def site_context(browser):
    context = browser.new_context(viewport=VIEWPORT)
    yield context
    context.close()


@pytest.fixture(scope="module")
def site_report(site_context, site_server):
    """``site_report(name)``: the check of that page of the built site, run once per page."""
    reports: dict[str, PageReport] = {}
    anchors = _Anchors(site_server.site)

    def get(name: str) -> PageReport:
        if name not in reports:
            page = site_context.new_page()
            try:
                reports[name] = check_page(page, site_server, site_server.site / name, anchors)
                SKIPPED[name] = reports[name].skipped
                if name in SHOTS:
                    ARTIFACTS.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(ARTIFACTS / SHOTS[name]), full_page=name == "index.html")
            finally:
                page.close()
        return reports[name]

    return get


def html(lecture: nav.Lecture) -> str:
    return lecture.path.stem + ".html"


@pytest.mark.parametrize("name", PAGES)
def test_site_page_loads_cleanly_with_its_images_links_and_equations(name: str, site_report) -> None:
    report = site_report(name)
    assert report.problems == [], f"{name}:\n" + "\n".join(report.problems)


def test_every_lecture_has_a_page_and_the_landing_page_maps_them_all(site_report) -> None:
    assert sorted(PAGES) == sorted(["index.html", "genindex.html", "search.html", *map(html, LECTURES)])
    links = site_report("index.html").links
    ref = nav.release_ref()
    for lec in LECTURES:
        assert any(url.endswith("/" + html(lec)) for url in links), f"landing page: no link to {html(lec)}"
        assert nav.binder_url(lec.file) in links and nav.colab_url(lec.file, ref) in links, lec.file
        assert any(url.endswith("/" + lec.file) and "/_downloads/" in url for url in links), lec.file


@pytest.mark.parametrize("i", range(len(LECTURES)), ids=[lec.number for lec in LECTURES])
def test_lecture_page_launches_downloads_and_links_its_neighbours(i: int, site_report, site_server) -> None:
    lec = LECTURES[i]
    links = site_report(html(lec)).links
    assert nav.binder_url(lec.file) in links, "no Binder link (the lecture's own badge, tools/nav.py)"
    assert nav.colab_url(lec.file, nav.release_ref()) in links, "no Colab link at this release's tag"
    download = site_server.url + "_sources/" + lec.file
    assert download in links, f"no download link {download}"
    assert (SITE / "_sources" / lec.file).read_bytes() == lec.path.read_bytes()
    neighbours = [LECTURES[j] for j in (i - 1, i + 1) if 0 <= j < len(LECTURES)]
    for other in neighbours:
        assert site_server.url + html(other) in links, f"no link to the neighbouring lecture {html(other)}"


def test_screenshots_of_the_landing_page_and_a_lecture(site_report) -> None:
    for name, shot in SHOTS.items():
        site_report(name)
        assert (ARTIFACTS / shot).stat().st_size > 10_000, f"{shot} looks empty"


# -- the check itself, on fixture pages ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_server(chromium_path: str):
    with SiteServer(FIXTURE_SITE) as server:
        yield server


def check_fixture(site_context, server: SiteServer, name: str) -> PageReport:
    page = site_context.new_page()
    try:
        return check_page(page, server, FIXTURE_SITE / name)
    finally:
        page.close()


def test_check_passes_a_good_page_and_skips_only_the_badge_image(site_context, fixture_server) -> None:
    report = check_fixture(site_context, fixture_server, "good.html")
    assert report.problems == []
    assert report.skipped == ["https://mybinder.org/badge_logo.svg"]


def test_check_reports_each_fault_of_a_bad_page(site_context, fixture_server) -> None:
    problems = check_fixture(site_context, fixture_server, "bad.html").problems
    base = fixture_server.url
    expected_starts = [
        "loads script https://cdn.example.org/lib.js from another host",
        "console error: something broke",
        "MathJax error: Undefined control sequence \\foo",
        *(f"equation left as raw TeX: {tex!r}" for tex in ("$$\\sum_i x_i$$", "$a + b$", "\\(c\\)")),
        f"HTTP 404 for {base}missing.png",
        f"image does not load: {base}missing.png",
        f"link to a missing file: {base}nowhere.html",
        f"link to a missing anchor: {base}good.html#no-such-anchor",
    ]
    for start in expected_starts:
        assert sum(p.startswith(start) for p in problems) == 1, f"expected one problem starting {start!r}: {problems}"
    assert len(problems) == len(expected_starts), problems
