"""The built site in a real browser (Debian's headless Chromium, as the report's tests drive it).

Every page loads with no console error and no request off the machine, every internal link
leads to a page that exists and to an anchor on it, every image is drawn (naturalWidth > 0),
and every example of ``examples/`` has a gallery page that shows at least one figure.
Skipped, with the reason, where the site is not built or Chromium is missing.
"""

from __future__ import annotations

import html.parser
import pathlib
import urllib.parse

import pytest

from ..report import browser

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: what a page may request: its own files and inline data
LOCAL_SCHEMES = ("file:", "data:", "about:", "blob:")

PAGE_STATE = """
const done = arguments[arguments.length - 1];
const imgs = [...document.images];
imgs.forEach(i => { i.loading = 'eager'; });
const settled = () => imgs.every(i => i.complete);
const report = () => done({
    ready: document.readyState,
    title: document.title,
    links: [...document.querySelectorAll('a[href]')].map(a => a.href),
    images: imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth,
                            gallery: i.matches('img.sphx-glr-single-img, img.sphx-glr-multi-img')})),
});
let waited = 0;
(function poll() { if (settled() || waited > 10000) { report(); } else { waited += 50; setTimeout(poll, 50); } })();
"""


class _Ids(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)


def anchors(page: pathlib.Path, cache: dict[pathlib.Path, set[str]]) -> set[str]:
    if page not in cache:
        parser = _Ids()
        parser.feed(page.read_text(encoding="utf-8"))
        cache[page] = parser.ids
    return cache[page]


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = browser.start(str(tmp_path_factory.mktemp("profile")))
    d.set_script_timeout(30)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def crawl(site, driver):
    """Every HTML page of the site, loaded in the browser: page -> what the page showed."""
    pages = sorted(p for p in site.rglob("*.html") if not p.relative_to(site).parts[0].startswith("_")
                   or p.relative_to(site).parts[0] == "_modules")
    assert len(pages) > 50, f"only {len(pages)} pages in {site}"
    seen = {}
    driver.get("about:blank")
    browser.requests(driver)
    driver.get_log("browser")
    for page in pages:
        driver.get(page.as_uri())
        state = driver.execute_async_script(PAGE_STATE)
        state["requests"] = browser.requests(driver)
        state["errors"] = browser.console_errors(driver)
        seen[page] = state
    return seen


def test_every_page_loads_offline_without_errors(crawl):
    problems = []
    for page, state in crawl.items():
        if state["ready"] != "complete" or not state["title"]:
            problems.append(f"{page.name}: not loaded ({state['ready']!r}, title {state['title']!r})")
        problems += [f"{page.name}: console error {e}" for e in state["errors"]]
        problems += [f"{page.name}: requested {u}" for u in state["requests"] if not u.startswith(LOCAL_SCHEMES)]
    assert not problems, "\n".join(problems[:30])


def test_every_internal_link_resolves(site, crawl):
    ids: dict[pathlib.Path, set[str]] = {}
    broken = []
    for page, state in crawl.items():
        for href in state["links"]:
            url = urllib.parse.urlsplit(href)
            if url.scheme != "file":
                continue
            target = pathlib.Path(urllib.parse.unquote(url.path))
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(site)} -> {href}: no such file")
                continue
            assert site in target.parents or target.is_relative_to(ROOT), f"{page}: link outside the site: {href}"
            fragment = urllib.parse.unquote(url.fragment)
            if fragment and target.suffix == ".html" and fragment not in anchors(target, ids):
                broken.append(f"{page.relative_to(site)} -> {href}: no anchor #{fragment}")
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:30])


def test_every_image_is_drawn(crawl):
    blank = [f"{page.name}: {img['src']}" for page, state in crawl.items() for img in state["images"]
             if img["width"] <= 0]
    assert not blank, "images not drawn:\n" + "\n".join(blank[:30])


def test_every_example_shows_its_figure(site, crawl):
    examples = sorted(p.stem for p in (ROOT / "examples").glob("*.py") if not p.name.startswith("_"))
    assert examples, "no examples found"
    for name in examples:
        page = site / "auto_examples" / f"{name}.html"
        assert page in crawl, f"the gallery has no page for examples/{name}.py"
        figures = [img for img in crawl[page]["images"] if img["gallery"]]
        assert figures, f"the gallery page of examples/{name}.py shows no figure"
        assert all(img["width"] > 0 for img in figures), (name, figures)
    gallery = crawl[site / "auto_examples" / "index.html"]
    thumbnails = [link for link in gallery["links"] if "/auto_examples/" in link and link.endswith(".html")]
    assert {pathlib.Path(urllib.parse.urlsplit(t).path).stem for t in thumbnails} >= set(examples)
