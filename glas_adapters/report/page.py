"""The HTML page: the template, its inline CSS and JavaScript, and the report's data as JSON."""

from __future__ import annotations

import html
import json
import re
from importlib import resources
from typing import Any

_PACKAGE = "glas_adapters.report"


def render_page(data: dict[str, Any]) -> str:
    """One HTML document with everything inline: the data is a JSON script block read by the page's script."""
    def text(name: str) -> str:
        return resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")

    payload = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    # "</script" or "<!--" inside a string would end the script element: "\u003c" is the same JSON string.
    payload = payload.replace("<", "\\u003c")
    parts = {"/*GLAS:CSS*/": text("report.css"), "/*GLAS:JS*/": text("report.js"),
             "GLAS:TITLE": html.escape(str(data["title"])), "GLAS:DATA": payload}
    # One pass, so nothing inserted (a title, a file name) is read as a marker.
    return re.sub("|".join(re.escape(m) for m in parts), lambda m: parts[m.group(0)], text("page.html"))
