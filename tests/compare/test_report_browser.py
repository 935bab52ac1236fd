"""report.html in a real headless browser (Debian `chromium`; scripts/ci_chromium.sh installs it)."""

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

from adaptlab.compare.plots import METHOD_COLORS
from adaptlab.compare.report import write_reports

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium on PATH; install it with scripts/ci_chromium.sh")
WINDOW = (1280, 2000)
RENDERED_METHODS = ("full", "lora", "dora", "qlora")


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", f"--user-data-dir={profile}", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture
def report_html(make_comparison, tmp_path) -> Path:
    return write_reports(make_comparison(methods=RENDERED_METHODS), tmp_path / "cmp")["html"]


def test_screenshot_shows_the_report_with_its_charts(report_html, tmp_path):
    screenshot = tmp_path / "report.png"
    _chromium(tmp_path / "profile", f"--screenshot={screenshot}", f"--window-size={WINDOW[0]},{WINDOW[1]}", report_html.as_uri())
    if keep := os.environ.get("ADAPTLAB_SCREENSHOT_DIR"):
        shutil.copy(screenshot, Path(keep) / "compare_report.png")

    image = Image.open(screenshot).convert("RGB")
    assert image.size == WINDOW
    colors = image.getcolors(maxcolors=WINDOW[0] * WINDOW[1])
    assert len(colors) > 200, "a rendered report has text, tables and charts, not a blank page"
    dominant_share = max(count for count, _ in colors) / (WINDOW[0] * WINDOW[1])
    assert dominant_share < 0.9
    # Every method's colour is painted: the bars and curves were drawn, not just laid out.
    pixels = {color: count for count, color in colors}
    for method in RENDERED_METHODS:
        hex_color = METHOD_COLORS[method]
        rgb = tuple(int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
        assert pixels.get(rgb, 0) > 2_000, f"{method} bars ({hex_color}) are not visible in the screenshot"


class _Elements(HTMLParser):
    def __init__(self):
        super().__init__()
        self.svg_ids: list[str] = []
        self.rows: list[str] = []
        self.headers = 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "svg":
            self.svg_ids.append(attrs.get("id", ""))
        elif tag == "tr" and "data-method" in attrs:
            self.rows.append(attrs["data-method"])
        elif tag == "th":
            self.headers += 1


def test_dom_after_rendering_holds_plots_and_table_rows(report_html, tmp_path):
    dom = _chromium(tmp_path / "profile", "--dump-dom", report_html.as_uri()).stdout
    elements = _Elements()
    elements.feed(dom)
    assert elements.svg_ids == ["chart-loss_curves", "chart-quality", "chart-peak_memory", "chart-train_time", "chart-forgetting"]
    assert elements.rows == ["full", "lora", "dora", "qlora"]
    assert elements.headers == 14
