"""Headless Chromium for the report's tests: Debian's ``chromium`` and ``chromium-driver``, driven by Selenium.

Nothing is downloaded: the browser and its driver are the system's (``.ci/run`` installs them);
without them :func:`missing` says why and the browser tests skip.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
from typing import Any

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install 'glas[test]')"
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} not found: install Debian's {package} (apt-get install chromium chromium-driver)"
    return None


def start(profile_dir: str, width: int = 1280, height: int = 900) -> Any:
    """A headless Chromium whose console messages are kept for ``driver.get_log('browser')``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={width},{height}", f"--user-data-dir={profile_dir}",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


def open_page(driver: Any, html_path: str, timeout: float = 10.0) -> None:
    """Load the report and wait until its script has drawn the index."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(pathlib.Path(html_path).resolve().as_uri())
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.body.dataset.ready || null"))
