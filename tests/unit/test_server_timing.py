"""Server-reported timings: llama.cpp's perf log, their aggregation and their reports."""

from __future__ import annotations

import pytest
from test_report_model import make_attempt, make_data, make_run, make_step

from aetherflow.bench.aggregate import latency_table
from aetherflow.providers.local import parse_server_timing
from aetherflow.report import render_markdown
from aetherflow.report.analysis import analyse
from aetherflow.results.bench import LatencyTable
from aetherflow.results.run import AttemptRecord, ServerTiming, TimingMetrics

# Recorded from llama-cpp-python 0.3.16's server on this project's VM (verbose log).
COLD = """INFO:     127.0.0.1:34826 - "POST /v1/chat/completions HTTP/1.1" 200 OK
llama_perf_context_print:        load time =     182.33 ms
llama_perf_context_print: prompt eval time =     182.09 ms /    39 tokens (    4.67 ms per token,   214.18 tokens per second)
llama_perf_context_print:        eval time =     431.58 ms /    39 runs   (   11.07 ms per token,    90.37 tokens per second)
llama_perf_context_print:       total time =     729.82 ms /    78 tokens
llama_perf_context_print:    graphs reused =         37
"""  # noqa: E501
WARM = """Llama.generate: 38 prefix-match hit, remaining 1 prompt tokens to eval
llama_perf_context_print:        load time =     182.33 ms
llama_perf_context_print: prompt eval time =       0.00 ms /     1 tokens (    0.00 ms per token,      inf tokens per second)
llama_perf_context_print:        eval time =     437.72 ms /    40 runs   (   10.94 ms per token,    91.38 tokens per second)
llama_perf_context_print:       total time =     529.87 ms /    41 tokens
"""  # noqa: E501


def test_parse_reads_prefill_and_decode_from_the_perf_block() -> None:
    t = parse_server_timing(COLD)
    assert (t.prefill_ms, t.prefill_tokens, t.decode_ms, t.decode_runs) == (182.09, 39, 431.58,
                                                                           39)
    assert t.decode_ms_per_token == pytest.approx(431.58 / 39)
    assert t.compute_ms == pytest.approx(182.09 + 431.58)
    assert t.source and "llama_perf_context_print" in t.source and t.note is None
    warm = parse_server_timing(WARM)
    assert (warm.prefill_ms, warm.prefill_tokens, warm.decode_runs) == (0.0, 1, 40)


def test_speculative_keeps_only_the_sum() -> None:
    t = parse_server_timing(COLD, speculative=True)
    assert t.compute_ms == pytest.approx(182.09 + 431.58)
    assert t.prefill_ms is None and t.decode_ms_per_token is None
    assert t.note and "speculative" in t.note


@pytest.mark.parametrize(("segment", "reason"), [
    (COLD + WARM, "several generations"),
    ('INFO: "POST /v1/chat/completions HTTP/1.1" 200 OK\n', "printed no timings"),
])
def test_unattributable_segments_are_unknown_with_a_reason(segment: str, reason: str) -> None:
    t = parse_server_timing(segment)
    assert t.compute_ms is None and t.prefill_ms is None and t.note and reason in t.note


def _with_server(ttft: float, prefill: float | None, per_token: float | None,
                 note: str | None = None) -> AttemptRecord:
    a = make_attempt(ttft)
    a.server_timing = ServerTiming(prefill_ms=prefill, decode_ms_per_token=per_token,
                                   note=note)
    return a


def test_latency_table_summarises_server_figures_against_known_values() -> None:
    attempts = [_with_server(100.0, 60.0, 10.0), _with_server(200.0, 150.0, 12.0),
                _with_server(300.0, None, None, note="another request ran at the same time")]
    table = latency_table(attempts, "all")
    assert (table.server_prefill_ms.n, table.server_prefill_ms.missing) == (2, 1)
    assert table.server_prefill_ms.mean == pytest.approx(105.0)
    assert table.server_decode_ms_per_token.mean == pytest.approx(11.0)
    outside = table.ttft_outside_prefill_ms  # 100 - 60 and 200 - 150
    assert (outside.n, outside.min, outside.max, outside.p50) == (2, 40.0, 50.0, 45.0)


def test_unreported_server_figures_are_na_with_the_most_common_reason() -> None:
    attempts = [_with_server(100.0, None, None, note="emu: no server timings"),
                _with_server(100.0, None, None, note="emu: no server timings"),
                _with_server(100.0, None, None, note="something else")]
    table = latency_table(attempts, "all")
    assert table.server_prefill_ms.n == 0
    assert table.server_prefill_ms.note == "emu: no server timings"
    assert table.ttft_outside_prefill_ms.note == "emu: no server timings"
    # compact views hide them; the full list keeps them (as n/a with the reason)
    assert len(table.rows()) == 9 and len(table.rows(hide_unmeasured_server=True)) == 6


def test_markdown_shows_server_rows_with_values_or_reasons() -> None:
    measured = make_run("r", [make_step("a", [100.0])])
    measured.steps[0].attempts[0].server_timing = ServerTiming(prefill_ms=70.0,
                                                               decode_ms_per_token=9.5)
    md = render_markdown(make_data([measured]))
    assert "| server prefill (ms) | 1 | 70.0 |" in md
    assert "| TTFT outside prefill (ms) | 1 | 30.0 |" in md
    na = render_markdown(make_data())
    assert "server prefill (ms)" in na and "not recorded (written before" in na
    assert "| TPOT (ms/token, not ITL) |" in na  # the table says it is not ITL
    assert "| ITL (ms, gaps between chunks, not TPOT) |" in na


def test_older_records_load_with_explicit_not_recorded_reasons() -> None:
    a = AttemptRecord.model_validate({"attempt": 1, "provider": "p", "model": "m",
                                      "status": "ok", "started_at_ms": 0.0,
                                      "timing": TimingMetrics().model_dump()})
    assert a.server_timing.prefill_ms is None and a.server_timing.note
    old = latency_table([], "all").model_dump()
    for key in ("server_prefill_ms", "server_decode_ms_per_token", "ttft_outside_prefill_ms"):
        del old[key]
    table = LatencyTable.model_validate(old)
    assert table.server_prefill_ms.n == 0 and "not in this data" in (
        table.server_prefill_ms.note or "")


def _split_tip(prefill: float) -> list[str]:
    run = make_run("r", [make_step("a", [100.0, 100.0])])  # p50 needs n >= 2
    for attempt in run.steps[0].attempts:
        attempt.server_timing = ServerTiming(prefill_ms=prefill)
    return [a.answer for a in analyse(make_data([run])) if a.question == "What to improve?"]


def test_analysis_says_where_ttft_goes() -> None:
    prompt = _split_tip(70.0)[0]
    assert ("of TTFT p50 100.0 ms, server prefill p50 is 70.0 ms (70.0%) and TTFT outside "
            "prefill p50 30.0 ms: the prompt dominates") in prompt
    serving = _split_tip(40.0)[0]
    assert "(40.0%) and TTFT outside prefill p50 60.0 ms: the serving stack" in serving
    unreported = [a.answer for a in analyse(make_data()) if a.question == "What to improve?"]
    assert "server prefill" not in unreported[0]
