"""The CLI's shared options, help, terminal views and start-up, and suite resume.

* every plan-running command takes every shared option, from the one definition;
* result-writing commands take ``--json`` and ``--output``;
* constants the light CLI modules repeat (to stay light at start-up) equal the library's;
* views fit 80 columns without cutting a number;
* registering every command imports none of the heavy modules;
* a suite records its spec and resumes what was not finished.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, get_args

import pytest
import typer
from rich.console import Console
from typer.testing import CliRunner

from aetherflow.bench.runner import BENCH_SPEC_FILE, BenchSpec, build_benchmark_data
from aetherflow.bench.suite import (
    SUITE_SPEC_FILE,
    Variant,
    load_suite_spec,
    resume_suite,
    run_suite,
)
from aetherflow.cli import focused, history, report
from aetherflow.cli.bench import SET_HELP
from aetherflow.cli.compare import FAIL_IF_MODES
from aetherflow.cli.display import (
    SUMMARY_ROWS,
    LiveRunDisplay,
    fit_first_column,
    summary_footer,
    summary_table,
)
from aetherflow.cli.help import reflow, type_metavar
from aetherflow.cli.main import _register_commands, app
from aetherflow.cli.options import (
    BENCH_FLAGS,
    RUN_FLAGS,
    SLO_NAMES,
    RunFlags,
    parse_slos,
)
from aetherflow.cli.tables import fmt_signed
from aetherflow.errors import ConfigError
from aetherflow.execution.runner import SLO_METRICS, RunOptions
from aetherflow.plan.models import Plan, Step
from aetherflow.results.bench import BenchmarkData, BenchMeta
from aetherflow.results.run import (
    AttemptRecord,
    Environment,
    RunConfig,
    RunRecord,
    RunStatus,
    StepRecord,
    TimingMetrics,
    TokenCount,
    Usage,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "plans"

RUN = ("run",)
BENCH_FAMILY = [("bench", "run"), ("suite",), ("bench", "parallel"), ("bench", "speculative"),
                ("bench", "workflow"), ("bench", "prompt-cache"), ("bench", "slm-local")]
RESULT_WRITING = [RUN, *BENCH_FAMILY, ("compare",), ("report",), ("plan", "upgrade")]


def _command(path: tuple[str, ...]) -> Any:
    _register_commands()
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return command


def _params(path: tuple[str, ...]) -> dict[str, Any]:
    return {p.name: p for p in _command(path).params}


# --- the same option means the same thing everywhere ----------------------------------------


@pytest.mark.parametrize("path", [RUN, *BENCH_FAMILY], ids=" ".join)
def test_every_plan_running_command_takes_every_shared_option(path: tuple[str, ...]) -> None:
    params = _params(path)
    for flag in RUN_FLAGS:
        param = params.get(flag.name)
        assert param is not None, f"{' '.join(path)} lacks {flag.flags[0]}"
        assert set(param.opts) == set(flag.flags)
        assert (param.help, param.metavar) == (flag.help, flag.metavar)


@pytest.mark.parametrize("path", BENCH_FAMILY, ids=" ".join)
def test_the_bench_family_takes_fresh_server_and_not_apply(path: tuple[str, ...]) -> None:
    params = _params(path)
    assert {f.name for f in BENCH_FLAGS} <= set(params)
    assert "apply" not in params


def test_run_takes_apply_and_not_fresh_server() -> None:
    params = _params(RUN)
    assert params["apply"].opts == ["--apply"] and "fresh_server" not in params


@pytest.mark.parametrize("path", RESULT_WRITING, ids=" ".join)
def test_result_writing_commands_take_json_and_output(path: tuple[str, ...]) -> None:
    opts = {o for p in _command(path).params for o in p.opts}
    assert {"--json", "--output"} <= opts


def test_shared_option_names_are_unique_and_cover_run_options() -> None:
    flags = [f for flag in (*RUN_FLAGS, *BENCH_FLAGS) for f in flag.flags]
    assert len(flags) == len(set(flags))
    fields = {f.field for f in RUN_FLAGS}
    assert {"judge_provider", "judge_model", "slos", "project", "project_env", "plugins",
            "repairs", "workflow", "review_provider", "review_model", "sandbox",
            "check_memory_mb", "max_cost_usd", "seed"} <= fields
    assert {f.name for f in RUN_FLAGS}.isdisjoint({"apply", "fresh_server"})


# --- RunFlags -------------------------------------------------------------------------------


def _flags(**given: Any) -> RunFlags:
    values = {f.name: None for f in (*RUN_FLAGS, *BENCH_FLAGS)}
    values.update(given)
    return RunFlags(values)


def test_given_maps_options_to_run_option_fields() -> None:
    flags = _flags(concurrency=4, repairs=0, fallback=["groq"], slo=["ttft_ms=2000"],
                   project=Path("proj"), judge_provider="openai", fresh_server=True)
    assert flags.given() == {"concurrency": 4, "repairs": 0, "fallbacks": ("groq",),
                             "slos": (("ttft_ms", 2000.0),), "project": Path("proj"),
                             "judge_provider": "openai"}
    assert flags.fresh_server
    options = flags.apply(RunOptions())
    assert (options.concurrency, options.repairs, options.slos) == (
        4, 0, (("ttft_ms", 2000.0),))
    assert flags.apply(RunOptions(), skip=["concurrency"]).concurrency == 2
    assert flags.given_options() == ["--fallback", "--concurrency", "--repairs",
                                     "--judge-provider", "--slo", "--project",
                                     "--fresh-server"]


def test_zero_is_given_and_none_or_empty_is_not() -> None:
    flags = _flags(repairs=0, fallback=[], max_cost_usd=None)
    assert flags.is_given("repairs")
    assert not flags.is_given("fallback") and not flags.is_given("max_cost_usd")
    assert not _flags(fresh_server=False).is_given("fresh_server")


def test_a_setting_given_as_option_and_set_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"--concurrency and --set concurrency"):
        _flags(concurrency=3).overlay_conflicts({"concurrency": "2"})
    _flags(concurrency=3).overlay_conflicts({"max_tokens": "8"})  # different settings: fine
    _flags().overlay_conflicts({"concurrency": "2"})


def test_reject_names_the_option_and_why() -> None:
    with pytest.raises(ConfigError, match=r"^--workflow: fixed here$"):
        _flags(workflow="prod").reject(["workflow"], "fixed here")
    _flags().reject(["workflow"], "fixed here")


@pytest.mark.parametrize(("item", "needle"), [
    ("ttft_ms", "expected NAME=VALUE"),
    ("ttft=3", "unknown metric 'ttft'"),
    ("ttft_ms=abc", "is not a number"),
    ("ttft_ms=0", "must be positive"),
])
def test_bad_slo_is_one_clear_error(item: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_slos([item])


def test_slos_parse() -> None:
    assert parse_slos(["ttft_ms=2000", " tpot_ms = 50.5"]) == (("ttft_ms", 2000.0),
                                                               ("tpot_ms", 50.5))


# --- constants the light modules repeat -----------------------------------------------------


def test_light_copies_equal_the_library() -> None:
    from aetherflow.bench.compare import FAIL_IF_MODES as LIBRARY_MODES
    from aetherflow.bench.overlay import VALID_KEYS
    from aetherflow.bench.prompt_cache import DEFAULT_EMULATED
    from aetherflow.bench.runner import BENCH_DATA_FILE

    assert tuple(SLO_METRICS) == SLO_NAMES
    assert FAIL_IF_MODES == LIBRARY_MODES
    assert focused.DEFAULT_EMULATED == DEFAULT_EMULATED
    assert get_args(RunStatus) == history.RUN_STATUSES
    assert report.BENCH_DATA_FILE == BENCH_DATA_FILE
    assert all(key in SET_HELP for key in VALID_KEYS)


# --- help -----------------------------------------------------------------------------------


def test_reflow_joins_each_paragraph_and_keeps_example_blocks() -> None:
    text = """First line
    continues here.

    Second
    paragraph.

    Example: aetherflow run a.json
    Example: aetherflow run b.json"""
    assert reflow(text) == ("First line continues here.\n\nSecond paragraph.\n\n"
                            "Example: aetherflow run a.json\nExample: aetherflow run b.json")


def test_type_metavars() -> None:
    assert [type_metavar(t) for t in (int, float, Path, str, int | None, list[Path])] == [
        "N", "NUMBER", "PATH", "TEXT", "N", "PATH"]


# --- views fit 80 columns -------------------------------------------------------------------


def _record(step_ids: list[str], big: float) -> RunRecord:
    env = Environment(hostname="h", platform="p", machine="m", cpu_count=2, python="3.11",
                      aetherflow_version="0")
    steps = []
    for sid in step_ids:
        attempt = AttemptRecord(
            attempt=1, provider="openai-compatible", model="m", status="ok",
            started_at_ms=0.0, timeline_ms={"dispatched": 0.0},
            timing=TimingMetrics(ttft_ms=big, ttr_ms=big * 10, tpot_ms=12.5),
            usage=Usage(input=TokenCount(value=123456, provenance="server"),
                        output=TokenCount(value=65432, provenance="server")))
        steps.append(StepRecord(step_id=sid, type="code_generation", status="passed",
                                provider="openai-compatible", ready_at_ms=0.0,
                                finished_at_ms=big * 20, step_time_ms=big * 20,
                                ttft_ms=big, ttr_ms=big * 10, attempts=[attempt]))
    return RunRecord(run_id="r", task_id="t", plan_path="p.json", status="passed",
                     started_at="2025-01-01T00:00:00+00:00",
                     config=RunConfig(provider="openai-compatible", model="m", concurrency=2,
                                      max_tokens=16, temperature=0.0, step_timeout_s=10,
                                      max_attempts=2),
                     environment=env, steps=steps)


def _lines(renderable: Any, width: int) -> list[str]:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [80, 120])
def test_run_summary_fits_without_cutting_numbers(width: int) -> None:
    record = _record(["a_very_long_step_identifier_that_goes_on_and_on", "b"], 98765.4)
    lines = _lines(summary_table(record, width), width)
    assert max(len(line) for line in lines) <= width
    text = "\n".join(lines)
    for number in ("98,765", "987,654", "1,975,308", "65,432"):
        assert number in text
    assert "a_very_long" in text and "…" in text  # the id is shortened, not a number
    assert ("TPOT" in text) == (width >= 100)  # wider terminals get more columns


def test_summary_of_thousands_of_failed_steps_fits_a_screen() -> None:
    """A run whose 2,000 steps all failed, were cut by the token limit and warned lists
    SUMMARY_ROWS of each and counts the rest, with thousands separators."""
    record = _record([f"s{i:04d}" for i in range(2000)], 5.0)
    steps = [s.model_copy(update={"status": "failed", "reason": "check failed",
                                  "truncated": True}) for s in record.steps]
    record = record.model_copy(update={"steps": steps, "status": "failed",
                                       "warnings": [f"w{i}" for i in range(2000)]})
    footer = summary_footer(record)
    assert len(footer) < 4 * SUMMARY_ROWS
    text = "\n".join(footer)
    assert "passed 0 of 2,000 checked or skipped steps" in text
    assert (f"{2000 - SUMMARY_ROWS:,} more failed or skipped steps: aetherflow history "
            f"show {record.run_id} --status failed,skipped") in text
    assert f"and {2000 - SUMMARY_ROWS:,} more (raise --max-tokens)" in text
    assert f"{2000 - SUMMARY_ROWS:,} more warnings" in text
    assert "s0000: failed" in text and "s1999: failed" not in text
    table = _lines(summary_table(record, 80), 80)
    assert len(table) < SUMMARY_ROWS + 10 and "1,960 more steps not listed" in "\n".join(table)


def test_live_display_fits_80_columns() -> None:
    record = _record(["a_very_long_step_identifier_that_goes_on_and_on"], 5.0)
    console = Console(width=80, file=io.StringIO())
    live = LiveRunDisplay(console)
    plan = Plan(task_id="t", description="d", steps=[
        Step(id="a_very_long_step_identifier_that_goes_on_and_on", description="x")])
    live.on_run_start(plan, record.model_copy(update={"steps": []}))
    live.on_step_start("a_very_long_step_identifier_that_goes_on_and_on", 3,
                       "openai-compatible")
    for _ in range(123456):
        live.on_token("a_very_long_step_identifier_that_goes_on_and_on", "x")
    lines = _lines(live._render(), 80)
    assert max(len(line) for line in lines) <= 80
    assert "123,456" in "\n".join(lines)


def test_fit_first_column_leaves_room_for_the_others() -> None:
    assert fit_first_column(80, [11, 3, 6, 7, 5, 9]) == 80 - 41 - 22
    assert fit_first_column(20, [30], least=8) == 8


def test_signed_differences_are_for_people() -> None:
    assert fmt_signed(14900.0) == "+14,900"
    assert fmt_signed(-2.5) == "-2.50"
    assert fmt_signed(0.0123) == "+0.012"
    assert "e" not in fmt_signed(0.00001234)


# --- focused benchmarks apply the shared options -------------------------------------------


def test_shared_options_reach_every_side_but_real_only_ones_skip_emulated_sides() -> None:
    flags = _flags(model="m-1", max_tokens=64, provider="openai", fresh_server=True)
    prepare = focused.shared_options_applier(flags, skip=["provider"],
                                             real_only=["model"])
    real = prepare(BenchSpec(plan=Path("p"), output=Path("o"),
                             options=RunOptions(provider="local")))
    emulated = prepare(BenchSpec(plan=Path("p"), output=Path("o"),
                                 options=RunOptions(provider="anthropic",
                                                    emulator_url="http://e")))
    assert (real.options.provider, real.options.model, real.options.max_tokens) == (
        "local", "m-1", 64)
    assert (emulated.options.provider, emulated.options.model) == ("anthropic", None)
    assert emulated.options.max_tokens == 64 and real.fresh_server and emulated.fresh_server


# --- start-up: registering every command imports nothing heavy ------------------------------

HEAVY = ("matplotlib", "plotly", "numpy", "aiohttp", "aetherflow.bench", "aetherflow.report",
         "aetherflow.emulator", "aetherflow.execution", "aetherflow.providers")


def _loaded_after(code: str) -> list[str]:
    probe = (f"import sys\n{code}\n"
             f"print([m for m in {HEAVY!r} if m in sys.modules])")
    src = str(Path(__file__).resolve().parents[2] / "src")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, env={"PYTHONPATH": src, "COLUMNS": "80",
                                           "PATH": "/usr/bin:/bin"})
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))
    return loaded


def test_help_and_plan_check_import_nothing_heavy() -> None:
    run_main = ("from aetherflow.cli.main import main\n"
                "try:\n    main({args!r})\nexcept SystemExit:\n    pass")
    assert _loaded_after(run_main.format(args=["--help"])) == []
    assert _loaded_after(run_main.format(args=["run", "--help"])) == []
    assert _loaded_after(run_main.format(
        args=["plan", "check", str(EXAMPLES / "calculator.json")])) == []


# --- suite resume ---------------------------------------------------------------------------


def _data(spec: BenchSpec, finished: bool) -> BenchmarkData:
    meta = BenchMeta(plan=str(spec.plan), task_id="calculator", label=spec.label, repeats=1,
                     warmup=0, provider=spec.options.provider,
                     started_at="2025-01-01T00:00:00+00:00",
                     finished_at="2025-01-01T00:01:00+00:00" if finished else None)
    data = build_benchmark_data(meta, [])
    spec.output.mkdir(parents=True, exist_ok=True)
    (spec.output / "benchmark_data.json").write_text(data.model_dump_json())
    (spec.output / BENCH_SPEC_FILE).write_text("{}")
    return data


def test_suite_records_its_spec_and_resumes_only_what_did_not_finish(tmp_path: Path) -> None:
    plan = EXAMPLES / "calculator.json"
    variants = [Variant(name="seq", set={"concurrency": 1}),  # type: ignore[call-arg]
                Variant(name="par", set={"concurrency": 4})]  # type: ignore[call-arg]
    calls: list[tuple[str, bool, int]] = []

    def interrupted(spec: BenchSpec, resume: bool) -> BenchmarkData:
        calls.append((spec.output.name, resume, spec.options.max_tokens))
        if spec.output.name == "par":
            _data(spec, finished=False)
            raise KeyboardInterrupt
        return _data(spec, finished=True)

    out = tmp_path / "suite"
    options = replace(RunOptions(), max_tokens=64)
    with pytest.raises(KeyboardInterrupt):
        run_suite([plan], variants, out, 2, interrupted, options, True)
    spec = load_suite_spec(out)
    assert (spec.plans, spec.repeats, spec.fresh_server) == ([str(plan)], 2, True)
    assert [v.name for v in spec.variants] == ["seq", "par"]
    assert spec.run_options().max_tokens == 64

    def finish(spec: BenchSpec, resume: bool) -> BenchmarkData:
        calls.append((spec.output.name, resume, spec.options.max_tokens))
        return _data(spec, finished=True)

    entries = resume_suite(out, finish)
    assert [e.variant for e in entries] == ["seq", "par"]
    assert calls == [("seq", False, 64), ("par", False, 64), ("par", True, 64)]
    with pytest.raises(ConfigError, match="already holds a suite"):
        run_suite([plan], variants, out, 2, finish)
    assert (out / SUITE_SPEC_FILE).is_file()


@pytest.mark.parametrize(("args", "emulated"), [([], None), (["--real"], False),
                                                (["--emulated"], True)])
def test_an_unset_three_state_flag_stays_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                               args: list[str], emulated: bool | None) -> None:
    """``--emulated/--real`` not given means "decide by the key", not ``--real``."""
    seen: dict[str, Any] = {}

    def fake(*_args: Any, **kwargs: Any) -> Path:
        seen.update(kwargs)
        raise ConfigError("stop here")

    monkeypatch.setattr("aetherflow.bench.slm_local.run_slm_local", fake)
    _register_commands()
    result = CliRunner().invoke(app, ["bench", "slm-local", str(EXAMPLES / "calculator.json"),
                                      "-o", str(tmp_path / "out"), *args])
    assert isinstance(result.exception, ConfigError)
    assert seen["emulated"] is emulated
