"""The report in a real browser: Debian's headless Chromium driven by Selenium (one browser for
the module). Index, per-image view, selectors, keyboard, filters, lazy thumbnails, and no
network request or console error. Skipped, with the reason, where Chromium or its driver is missing."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("PIL")

from . import browser  # noqa: E402
from .helpers import SPECS, Spec, make_output, page_data  # noqa: E402

pytestmark = pytest.mark.skipif(browser.missing() is not None, reason=str(browser.missing()))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    from glas_adapters.report import build_report

    root = str(tmp_path_factory.mktemp("report"))
    summary = build_report(make_output(root, SPECS), os.path.join(root, "report.html"))
    return summary.path, page_data(summary.path)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    d = browser.start(str(tmp_path_factory.mktemp("profile")))
    yield d
    d.quit()


@pytest.fixture
def page(driver, report):
    browser.open_page(driver, report[0])
    return driver


def js(driver, script, *args):
    return driver.execute_script(script, *args)


def visible_names(driver):
    return js(driver, "return [...document.querySelectorAll('#rows .row a')].map(a => a.textContent)")


def overlay_src(driver):
    return js(driver, "const m = document.querySelector('#v-overlay img.map'); return m && m.getAttribute('src')")


def shown_name(driver):
    assert js(driver, "return document.getElementById('index').hidden && !document.getElementById('view').hidden")
    return driver.find_element("id", "v-name").text


def map_src(data, n, t, s, i):
    image = data["images"][n]
    return next(m["src"] for m in image["maps"] if (m["t"], m["s"], m["i"]) == (t, s, i))


def choose(driver, select_id, value):
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", select_id)).select_by_value(str(value))


def test_index_lists_every_image(page, report):
    assert visible_names(page) == [s.name for s in SPECS]
    assert page.find_element("id", "count").text == "showing 4 of 4 images"
    cells = js(page, "return [...document.querySelectorAll('#rows .row')].map(r => r.children[3].textContent)")
    assert cells == ["top-left", "top-right", "bottom-left", "bottom-right"]
    thumbs = js(page, "return [...document.querySelectorAll('#rows img')].map(i => i.getAttribute('src'))")
    assert thumbs == [im["thumb"] for im in report[1]["images"]]


def test_clicking_an_image_shows_its_view(page, report):
    page.find_elements("css selector", "#rows .row")[1].click()
    assert shown_name(page) == "b_top_right.png"
    assert js(page, "return location.hash") == "#image=1"
    assert overlay_src(page) == map_src(report[1], 1, 0, 0, 0)
    photo_src = js(page, "return document.querySelector('#v-photo img').getAttribute('src')")
    assert photo_src == report[1]["images"][1]["photo"]
    assert "model was wrong" in page.find_element("id", "v-label").text
    settings = page.find_element("id", "v-settings").text
    assert "forward passes 73" in settings and "grid 6 points per axis" in settings  # 2 * 6 * 6 + 1


def test_target_sigma_and_iteration_selectors_change_the_map(page, report):
    data = report[1]
    page.get(page.current_url.split("#")[0] + "#image=0")
    seen = {overlay_src(page)}
    assert overlay_src(page) == map_src(data, 0, 0, 0, 0)
    choose(page, "s-target", 1)
    assert overlay_src(page) == map_src(data, 0, 1, 0, 0)
    choose(page, "s-sigma", 1)
    assert overlay_src(page) == map_src(data, 0, 1, 1, 0)
    seen |= {map_src(data, 0, 1, 0, 0), overlay_src(page)}
    assert len(seen) == 3
    strip = js(page, "return [...document.querySelectorAll('#v-scales img.map')].map(i => i.getAttribute('src'))")
    assert strip == [map_src(data, 0, 1, 0, 0), map_src(data, 0, 1, 1, 0)]  # coarse to fine, side by side
    assert not page.find_element("id", "s-iter-box").is_displayed()  # not a recursive run: no iterations
    assert not page.find_element("id", "v-iters-box").is_displayed()
    # a recursive run: the iterations of image c side by side, and its own selector
    page.get(page.current_url.split("#")[0] + "#image=2")
    assert overlay_src(page) == map_src(data, 2, 0, 1, 0)  # the next image keeps the sigma, shows the final map
    assert page.find_element("id", "s-iter-box").is_displayed()
    iters = js(page, "return [...document.querySelectorAll('#v-iters img.map')].map(i => i.getAttribute('src'))")
    assert iters == [map_src(data, 2, 0, 1, i) for i in range(3)]
    choose(page, "s-iter", 2)
    assert overlay_src(page) == map_src(data, 2, 0, 1, 2)
    assert "iteration 2" in page.find_element("id", "v-caption").text


def test_opacity_slider_and_colour_bar(page, report):
    page.get(page.current_url.split("#")[0] + "#image=3")
    assert js(page, "return document.querySelector('#v-overlay img.map').style.opacity") == "0.5"
    js(page, "const r = document.getElementById('opacity'); r.value = 80; r.dispatchEvent(new Event('input'))")
    assert js(page, "return document.querySelector('#v-overlay img.map').style.opacity") == "0.8"
    m = report[1]["images"][3]["maps"][0]
    assert page.find_element("id", "cb-lo").text == f"{m['lo']:.3g}"
    assert page.find_element("id", "cb-hi").text == f"{m['hi']:.3g}"
    assert "jet" in page.find_element("id", "legend").text and "min-max" in page.find_element("id", "legend").text


def test_keyboard_moves_between_images(page):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    body = page.find_element("tag name", "body")
    page.find_elements("css selector", "#rows .row")[0].click()
    body.send_keys(Keys.ARROW_RIGHT)
    assert shown_name(page) == "b_top_right.png"
    body.send_keys("j")
    assert shown_name(page) == "c_bottom_left.png"
    body.send_keys(Keys.ARROW_LEFT)
    body.send_keys(Keys.ARROW_LEFT)
    assert shown_name(page) == "a_top_left.png"
    body.send_keys(Keys.ARROW_LEFT)  # wraps around
    assert shown_name(page) == "d_bottom_right.png"
    body.send_keys(Keys.ESCAPE)
    # Esc clears the hash; the index comes back on the hashchange event, asynchronously
    WebDriverWait(page, 10).until(lambda d: d.execute_script("return !document.getElementById('index').hidden"))


def test_filters_and_sorting(page, report):
    from selenium.webdriver.common.keys import Keys

    choose(page, "f-class", "top-right")
    assert visible_names(page) == ["b_top_right.png"]
    choose(page, "f-class", "")
    choose(page, "f-wrong", "wrong")
    assert visible_names(page) == ["b_top_right.png"]
    choose(page, "f-wrong", "unknown")
    assert visible_names(page) == ["c_bottom_left.png"]
    choose(page, "f-wrong", "")
    score = page.find_element("id", "f-score")
    score.clear()
    score.send_keys("0.6")
    expected = [im["name"] for im in report[1]["images"] if im["score"] >= 0.6]
    assert visible_names(page) == expected and len(expected) == 2
    score.send_keys(Keys.BACKSPACE * 3, "0")
    page.find_element("css selector", "#table .head button[data-key=score]").click()
    by_score = sorted(report[1]["images"], key=lambda im: -im["score"])
    assert visible_names(page) == [im["name"] for im in by_score]
    # next / previous follow the index as sorted and filtered
    page.find_elements("css selector", "#rows .row")[0].click()
    page.find_element("id", "next").click()
    assert shown_name(page) == by_score[1]["name"]


def test_no_network_request_and_no_console_error(page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    page.find_elements("css selector", "#rows .row")[0].click()
    choose(page, "s-target", 1)
    choose(page, "s-sigma", 1)
    page.find_element("tag name", "body").send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
    page.save_screenshot(str(tmp_path / "view.png"))
    # every request of the page, once the maps are seen being read (so the check is not vacuous)
    urls = requests_until(page, "", lambda seen: any("/report_files/m/" in u for u in seen))
    assert all(u.startswith(("file:", "data:")) for u in urls), urls
    assert browser.console_errors(page) == []
    entries = js(page, "return performance.getEntriesByType('resource').map(e => e.name)")
    assert all(u.startswith(("file:", "data:")) for u in entries), entries
    assert (tmp_path / "view.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def requests_until(driver, part, done, settle=0.3, timeout=20):
    """Requests whose URL contains ``part``, gathered until ``done(urls)``, then for ``settle`` s more."""
    import time

    from selenium.webdriver.support.ui import WebDriverWait

    seen = []

    def gather(d):
        seen.extend(u for u in browser.requests(d) if part in u)
        return done(seen)
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(gather)
    time.sleep(settle)
    gather(driver)
    return seen


def test_the_network_check_sees_a_request(driver, tmp_path):
    page = tmp_path / "net.html"
    page.write_text('<img src="http://127.0.0.1:9/x.png"><script>document.body.dataset.ready = 1</script>')
    browser.open_page(driver, str(page))
    assert requests_until(driver, "http:", bool, settle=0) == ["http://127.0.0.1:9/x.png"]
    assert browser.console_errors(driver)


def test_thumbnails_load_lazily(driver, tmp_path):
    from glas_adapters.report import build_report

    specs = [Spec(f"img{k:03d}.png", k % 4, targets=(k % 4,), size=16) for k in range(80)]
    summary = build_report(make_output(str(tmp_path), specs, sigmas=("3",), grid=4), str(tmp_path / "big.html"))
    browser.open_page(driver, summary.path)
    # no labels in this run: no right/wrong filter, no label column
    assert not driver.find_element("id", "f-wrong-box").is_displayed()
    assert not driver.find_element("css selector", "#table .head .label-col").is_displayed()
    first = requests_until(driver, "/big_files/t/", bool)
    assert len(first) < 80, len(first)
    driver.execute_script("window.scrollTo(0, document.body.scrollHeight)")
    later = requests_until(driver, "/big_files/t/", lambda urls: any(u.endswith("/t/79.png") for u in urls))
    assert not set(later) & set(first)
    # opened again, with every thumbnail in the browser's cache: still only those in view
    browser.open_page(driver, summary.path)
    again = requests_until(driver, "/big_files/t/", bool)
    assert len(again) < 80, len(again)


def test_embedded_report_shows_its_pictures(driver, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    from glas_adapters.report import build_report

    summary = build_report(make_output(str(tmp_path), SPECS[:2]), str(tmp_path / "one.html"), embed=True)
    browser.open_page(driver, summary.path)
    driver.execute_script("location.hash = 'image=1'")
    # photo, overlay photo and map, colour bar, the scales strip: all decoded (waits out a busy machine)
    WebDriverWait(driver, 20).until(lambda d: d.execute_script(
        "const imgs = [...document.querySelectorAll('#view img')];"
        "return imgs.length >= 4 && imgs.every(i => i.complete && i.naturalWidth > 0)"))
    urls = browser.requests(driver)
    assert urls and all(u.startswith("data:") or u.endswith("/one.html") for u in urls), urls
    assert browser.console_errors(driver) == []
