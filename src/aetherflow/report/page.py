"""The shell every HTML report shares: a self-contained page with interactive plotly charts.

The page needs no network: no ``<script src=``, no CDN, no web font. plotly.js is the
vendored partial "cartesian" bundle (``assets/plotly-cartesian.min.js``, MIT; see
``assets/README.md``), inlined **once** per page, gzip-compressed and base64-encoded: about
0.66 MB instead of 1.5 MB, so a report stays small enough to mail. The browser decompresses
it with ``DecompressionStream`` (Chrome 80+, Firefox 113+, Safari 16.4+), then draws each
chart; each chart's script is one ``Plotly.newPlot`` call queued until the bundle is ready.
A browser that cannot decompress shows, in place of each chart, why it is missing (the
tables carry every figure anyway). The output is deterministic: the same data gives the
same bytes.
"""

from __future__ import annotations

import base64
import gzip
import html
import json
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources

import plotly.graph_objects as go

__all__ = [
    "PAGE_CSS",
    "PLOTLY_BUNDLE_FILE",
    "PLOTLY_BUNDLE_VERSION",
    "chart_html",
    "html_table",
    "inline_markup",
    "note_figure",
    "page_html",
    "plotly_loader",
]

#: The vendored bundle and the plotly.js version it is (the one plotly for Python expects).
PLOTLY_BUNDLE_FILE = "plotly-cartesian.min.js"
PLOTLY_BUNDLE_VERSION = "4.1.1"

PAGE_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
 padding:1.5em 2em;max-width:1240px;color:#212121;line-height:1.45;font-size:15px}
h1{margin:.2em 0}h2{margin-top:1.8em;border-bottom:2px solid #e0e0e0;padding-bottom:.2em}
h3{margin-top:1.3em}
.sub{color:#555;margin:.2em 0 1em}
.tablewrap{overflow-x:auto;margin:.6em 0 1em}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #d0d0d0;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.short{white-space:nowrap}
.na{color:#888}
.caption{font-weight:600;margin:1em 0 .2em}
.note{color:#444;font-size:14px}
.warning{background:#fff4e5;border:1px solid #f5a623;border-left:6px solid #f5a623;
 padding:.6em 1em;margin:1em 0}
.badge{display:inline-block;padding:0 .45em;border-radius:3px;color:#fff;font-size:12px;
 font-weight:600}
.s-passed{background:#2e7d32}.s-failed{background:#c62828}.s-skipped{background:#8d6e63}
.s-unvalidated{background:#1565c0}
nav.toc{background:#f7f7f7;border:1px solid #e0e0e0;padding:.4em 1em;font-size:14px}
nav.toc a{margin-right:1em;white-space:nowrap}
.chart{width:100%;min-height:120px;margin:.5em 0 1.5em}
.chart-failed{border:1px dashed #bbb;padding:1em;color:#666}
ul.answers li{margin:.3em 0}
code{background:#f2f2f2;padding:0 .2em;border-radius:2px}
"""

_DEFAULT_HEIGHT = 450
#: Drawing options of every chart: resizes with the window; no link to plotly's site.
_CONFIG = {"responsive": True, "displaylogo": False}

_LOADER = """
(function () {
  var charts = document.querySelectorAll('div.chart');
  function fail(why) {
    for (var i = 0; i < charts.length; i++) {
      charts[i].className += ' chart-failed';
      charts[i].textContent = 'Chart not drawn: ' + why +
        '. The tables on this page carry every figure.';
    }
  }
  if (!window.DecompressionStream || !window.Response || !window.Blob) {
    fail('this browser cannot decompress the embedded plotly.js ' +
         '(needs Chrome 80+, Firefox 113+ or Safari 16.4+)');
    return;
  }
  var raw = atob(document.getElementById('plotly-bundle').textContent.trim());
  var bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) { bytes[i] = raw.charCodeAt(i); }
  var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
  new Response(stream).text().then(function (code) {
    window.PlotlyConfig = {MathJaxConfig: 'local'};
    var script = document.createElement('script');
    script.textContent = code;
    document.head.appendChild(script);
    var queue = window.AetherflowCharts || [];
    for (var j = 0; j < queue.length; j++) { queue[j](); }
  }).catch(function (err) { fail('plotly.js could not be unpacked (' + err + ')'); });
})();
"""


@cache
def _bundle_b64() -> str:
    """The vendored bundle, gzip-compressed (mtime 0: deterministic) and base64-encoded."""
    raw = resources.files("aetherflow.report").joinpath("assets", PLOTLY_BUNDLE_FILE)
    return base64.b64encode(gzip.compress(raw.read_bytes(), 9, mtime=0)).decode("ascii")


def plotly_loader() -> str:
    """The page's one copy of plotly.js (compressed) and the loader that draws the charts.

    Goes at the end of ``<body>``, after every :func:`chart_html`.
    """
    header = (f"/* plotly.js v{PLOTLY_BUNDLE_VERSION} (cartesian bundle, minified), Copyright "
              "2012-2026 Plotly, Inc., MIT licence. Vendored unchanged from the npm package "
              f"plotly.js-cartesian-dist-min@{PLOTLY_BUNDLE_VERSION}, stored gzip-compressed "
              "and base64-encoded below; decompressed here by the browser. */")
    return (f"<script type='application/octet-stream' id='plotly-bundle'>{_bundle_b64()}"
            f"</script><script>{header}{_LOADER}</script>")


def chart_html(fig: go.Figure, div_id: str) -> str:
    """One chart: its ``<div>`` and one queued ``Plotly.newPlot`` call with the figure JSON.

    A figure without a height gets plotly's usual 450 px (an empty ``<div>`` gives the
    responsive layout no height to take).
    """
    if fig.layout.height is None:
        fig.update_layout(height=_DEFAULT_HEIGHT)
    # JSON inside <script>: "</" and "<!--" must not appear raw (they could end the element)
    safe = fig.to_json(validate=False).replace("</", "<\\/").replace("<!--", "<\\!--")
    return (f"<div id='{div_id}' class='chart'></div><script>(window.AetherflowCharts="
            f"window.AetherflowCharts||[]).push(function(){{var f={safe};"
            f"Plotly.newPlot('{div_id}',f.data,f.layout,{json.dumps(_CONFIG)});}});"
            "</script>")


def note_figure(fig: go.Figure, text: str) -> go.Figure:
    """``fig`` with ``text`` written in its middle and no empty axes (how a chart says n/a)."""
    fig.add_annotation(text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       xanchor="center", yanchor="middle", font={"size": 14, "color": "#555"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(height=fig.layout.height or 220, plot_bgcolor="#fafafa")
    return fig


#: Cells up to this many characters do not wrap (``66.7% (3)``, ``warm-0``).
_SHORT = 16
_CODE = re.compile(r"`([^`]+)`")
_NUMERIC = re.compile(r"^[-+$]?[\d,.]+( ?(%|ms|s))?$|^n/a$")


def inline_markup(text: str) -> str:
    """``text`` escaped for HTML, with Markdown code spans (```x```) as ``<code>``."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


def html_table(header: Sequence[str], rows: Sequence[Sequence[str]],
               status_column: int | None = None) -> str:
    """An HTML table, every cell escaped; numbers right-aligned; ``status_column`` cells
    (``passed``/``failed``/``skipped``/``unvalidated``) drawn as coloured badges."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)

    def cell(i: int, text: str) -> str:
        if i == status_column and text in ("passed", "failed", "skipped", "unvalidated"):
            return f"<td><span class='badge s-{text}'>{text}</span></td>"
        classes = [c for c, hit in (("num", _NUMERIC.match(text)),
                                    ("na", text.startswith("n/a"))) if hit]
        if not classes and len(text) <= _SHORT:
            classes.append("short")
        cls = f" class='{' '.join(classes)}'" if classes else ""
        return f"<td{cls}>{inline_markup(text)}</td>"

    body = "".join("<tr>" + "".join(cell(i, c) for i, c in enumerate(row)) + "</tr>"
                   for row in rows)
    return f"<div class='tablewrap'><table><tr>{head}</tr>{body}</table></div>"


def page_html(title: str, body: str, *, extra_css: str = "") -> str:
    """The whole page: ``body`` (sections and charts), then the one copy of plotly.js."""
    t = html.escape(title)
    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<link rel='icon' href='data:,'><title>{t}</title>"
            f"<style>{PAGE_CSS}{extra_css}</style></head><body>{body}"
            f"{plotly_loader()}</body></html>\n")
