"""The HTML reports in a real headless Chromium: every section there, every chart drawn with
the inlined partial plotly.js bundle, no console error, and not one network request.

Each page is served from a loopback HTTP server, and Chromium's network log says which
requests the page itself started (their initiator is the page's origin): there must be
none (no CDN, no font, no favicon). The same server is Chromium's proxy, so nothing
leaves the machine: it refuses every proxied request (Chromium's own background requests
to Google services, which the page did not start). A last test shows the check catches a
page that does ask another host. The screenshot of each page is kept when
``AETHERFLOW_SCREENSHOTS`` names a directory (to look at what we ship).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from report_builders import (
    assert_self_contained,
    local_bench,
    realistic_bench,
    with_new_aggregates,
)

from aetherflow.bench.compare import compare_benches
from aetherflow.bench.suite import SuiteEntry, suite_data
from aetherflow.report import write_bench_reports
from aetherflow.report.comparison import COMPARISON_HTML, write_comparison
from aetherflow.report.comparison_html import render_suite_html

pytestmark = pytest.mark.chromium

CHROMIUM = "/usr/bin/chromium"
BENCH_HEADINGS = ("Setup", "Global figures", "Analysis", "Quality", "Steps and verdicts",
                  "Latency", "Throughput and goodput", "Per provider", "Per task type",
                  "Per step", "Plan structure", "Tokens and cost", "Cache", "Runs")


class _LoopbackOnly(SimpleHTTPRequestHandler):
    """Serves the page's directory; refuses every proxied request (nothing leaves)."""

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        if not self.path.startswith("/"):  # a proxied request for another host
            self.send_error(502, "no network while testing reports")
            return
        super().do_GET()

    def do_CONNECT(self) -> None:
        self.send_error(502, "no network while testing reports")


@contextmanager
def _serve(directory: Path) -> Iterator[ThreadingHTTPServer]:
    """A loopback server of ``directory``, while in use."""
    handler = partial(_LoopbackOnly, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _chromium() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("headless Chromium is required for this test: apt-get install -y chromium")
    return found


def _page_requests(netlog: Path, origin: str) -> list[str]:
    """URLs of the requests ``origin``'s page started, from Chromium's network log."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    return [e["params"]["url"] for e in log["events"]
            if e["type"] == start and e.get("params", {}).get("initiator") == origin]


def _load(page: Path, tmp_path: Path, height: int) -> tuple[subprocess.CompletedProcess[str],
                                                             list[str]]:
    """Load ``page`` over loopback in headless Chromium; its DOM after the scripts ran, a
    screenshot, and the URLs of every request the page started."""
    netlog = tmp_path / f"{page.stem}.netlog.json"
    with _serve(page.parent) as server:
        origin = f"http://127.0.0.1:{server.server_address[1]}"
        proc = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             f"--proxy-server={origin}", f"--log-net-log={netlog}", "--enable-logging=stderr",
             "--v=0", f"--window-size=1280,{height}", "--virtual-time-budget=10000",
             f"--screenshot={tmp_path / (page.stem + '.png')}", "--dump-dom",
             f"{origin}/{page.name}"],
            capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc, _page_requests(netlog, origin)


def _open(page: Path, tmp_path: Path, charts: int, height: int) -> str:
    """Load ``page``: no console error, no request of its own, every chart drawn, the whole
    page on the screenshot. Returns the DOM after the scripts ran."""
    proc, requests = _load(page, tmp_path, height)
    assert "Uncaught" not in proc.stderr and "ERROR:CONSOLE" not in proc.stderr, proc.stderr
    assert requests == [], requests  # no CDN, font, favicon: nothing but the page itself
    dom = proc.stdout
    assert 'class="chart chart-failed' not in dom  # the loader's fallback did not run
    for i in range(charts):
        drawn = dom.split(f'id="chart-{i}"', 1)[1].split('id="chart-', 1)[0]
        assert 'class="main-svg"' in drawn, f"chart-{i} not drawn"
    assert f'id="chart-{charts}"' not in dom
    _keep(tmp_path / f"{page.stem}.png", height)
    return dom


def _keep(shot: Path, height: int) -> None:
    """Check the window held the whole page (blank bottom rows), crop it to the content,
    and copy it to ``$AETHERFLOW_SCREENSHOTS`` when that is set."""
    from PIL import Image, ImageOps

    with Image.open(shot) as img:
        box = ImageOps.invert(img.convert("L")).getbbox()
        assert box is not None, "blank screenshot"
        assert box[3] < height - 8, "the page is longer than the screenshot window"
        out = os.environ.get("AETHERFLOW_SCREENSHOTS")
        if out:
            Path(out).mkdir(parents=True, exist_ok=True)
            img.crop((0, 0, img.width, box[3] + 16)).save(Path(out) / shot.name)


def _headings(dom: str) -> list[str]:
    """The titles of the page's sections, in order."""
    return re.findall(r"<h2 id=\"[^\"]+\">([^<]+)</h2>", dom)


def _section_ids(dom: str) -> list[str]:
    """The anchors of the page's sections, in order."""
    return re.findall(r"<h2 id=\"([^\"]+)\">", dom)


def test_benchmark_report_renders_every_section(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    write_bench_reports(with_new_aggregates(realistic_bench()), out)
    page = out / "benchmark_report.html"
    assert_self_contained(page.read_text(encoding="utf-8"), 4)
    dom = _open(page, tmp_path, 4, height=11000)
    assert _headings(dom) == list(BENCH_HEADINGS)
    assert "Machine busy while the bench ran" in dom
    assert '<span class="badge s-failed">failed</span>' in dom
    # the charts drew what they say: statuses with n, box n, the timeline's phases
    for drawn in ("pass rate 66.7% (n = 3)", "3 unvalidated, not counted", "openai (n=15)",
                  "whiskers: the furthest value", "waiting for a slot (queue)",
                  "checks running (validation)", "first token"):
        assert drawn in dom, drawn


def test_local_model_report_says_no_charge(tmp_path: Path) -> None:
    out = tmp_path / "local"
    write_bench_reports(local_bench(), out)
    page = out / "benchmark_report.html"
    (out / "benchmark_report_local.html").write_bytes(page.read_bytes())
    dom = _open(out / "benchmark_report_local.html", tmp_path, 4, height=8000)
    assert _headings(dom) == list(BENCH_HEADINGS)
    chart = dom.split('id="chart-3"', 1)[1]
    assert "local model: no charge" in chart  # in the drawn cost panel, not an empty chart


def test_comparison_report_renders(tmp_path: Path) -> None:
    a, b = realistic_bench("A"), realistic_bench("B", scale=1.3)
    write_comparison(compare_benches(a, b, "bench-a", "bench-b"), tmp_path / "cmp", a, b)
    page = tmp_path / "cmp" / COMPARISON_HTML
    assert_self_contained(page.read_text(encoding="utf-8"), 5)
    dom = _open(page, tmp_path, 5, height=16000)
    assert _section_ids(dom) == ["charts", "scopes"]
    assert "Step statuses, A and B" in dom and "A · openai (n=14)" in dom


def test_suite_report_renders(tmp_path: Path) -> None:
    benches = {("todo", "seq"): realistic_bench("seq"),
               ("todo", "par"): realistic_bench("par", scale=0.7),
               ("fmt", "seq"): local_bench(), ("fmt", "par"): local_bench()}
    entries = [SuiteEntry(plan=f"{task}.json", variant=v, output=f"o/{task}/{v}", data=data)
               for (task, v), data in benches.items()]
    page = tmp_path / "suite" / "suite_report.html"
    page.parent.mkdir()
    page.write_text(render_suite_html(suite_data(entries, Path("o"))), encoding="utf-8")
    assert_self_contained(page.read_text(encoding="utf-8"), 4)
    dom = _open(page, tmp_path, 4, height=5000)
    assert _section_ids(dom) == ["charts", "variants"]
    assert "Step statuses per plan · variant" in dom and "$0 (no charge)" in dom


def test_the_network_check_catches_a_page_that_asks_another_host(tmp_path: Path) -> None:
    page = tmp_path / "web" / "leaky.html"
    page.parent.mkdir()
    page.write_text("<!DOCTYPE html><html><body><img src='https://cdn.example.invalid/x.png'>"
                    "<script>fetch('http://fonts.example.invalid/a.css').catch(() => {});"
                    "</script></body></html>", encoding="utf-8")
    _, requests = _load(page, tmp_path, 600)
    assert "https://cdn.example.invalid/x.png" in requests
    assert "http://fonts.example.invalid/a.css" in requests


def test_a_browser_that_cannot_unpack_the_bundle_says_why(tmp_path: Path) -> None:
    out = tmp_path / "old"
    write_bench_reports(local_bench(), out)
    page = out / "benchmark_report.html"
    text = page.read_text(encoding="utf-8")
    # an older browser: no DecompressionStream
    page.write_text(text.replace("<body>", "<body><script>window.DecompressionStream = "
                                 "undefined;</script>", 1), encoding="utf-8")
    proc, requests = _load(page, tmp_path, 2000)
    assert requests == []
    assert proc.stdout.count('class="chart chart-failed"') == 4
    assert "Chart not drawn: this browser cannot decompress the embedded plotly.js" in proc.stdout
    assert "main-svg" not in proc.stdout
