"""Headless Chromium for the report's tests: Debian's ``chromium`` and ``chromium-driver``, driven by Selenium.

Nothing is downloaded: the browser and its driver are the system's (``.ci/run`` installs them);
without them :func:`missing` says why and the browser tests skip.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install 'glas-xai[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found: install Debian's {package} (apt-get install chromium chromium-driver)"
    return None


def start(profile_dir: str, width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium that keeps its console messages and its DevTools network events (see :func:`requests`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", f"--user-data-dir={profile_dir}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def open_page(driver: Any, html_path: str, timeout: float = 30.0) -> None:
    """Load the report and wait until its script has drawn the index; earlier logs are dropped."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")  # the browser's own new-tab page loads chrome:// files: not the report's
    requests(driver)
    driver.get_log("browser")
    driver.get(pathlib.Path(html_path).resolve().as_uri())
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready || null"))


def requests(driver: Any) -> list[str]:
    """URLs of every request the page made since the last call (DevTools' Network.requestWillBeSent).

    Unlike ``performance.getEntriesByType('resource')``, which lists no file: URL, this sees
    every request of any scheme: file:, data: and any network one.
    """
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver: Any) -> list[str]:
    """Console messages of level SEVERE (errors, failed loads, CSP violations) since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
