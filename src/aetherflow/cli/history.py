"""``aetherflow history``: list stored runs; ``history show REF``: one run's setup, prompts,
outputs and check verdicts; ``history benches``: list benches; ``history import DIR``: store
a bench or run directory's runs (again).

The listing picks its columns by the console width (``COLUMNS``): ids, numbers and statuses
are never cut; labels, plans and directories are shortened with ``…`` only when the
terminal is narrow, and wider terminals get more columns.

Light at import: rich, the run records and the store load when a command runs.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

import typer

from aetherflow.cli.help import Command, new_app
from aetherflow.errors import ConfigError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from aetherflow.results.run import RunRecord, StepRecord, Verdict
    from aetherflow.store.models import BenchSummary, RunSummary

__all__ = [
    "RUN_STATUSES",
    "benches_table",
    "choose_columns",
    "common_values",
    "fenced",
    "history_app",
    "history_benches",
    "history_command",
    "history_import",
    "history_show",
    "listing_title",
    "pick_steps",
    "register",
    "render_run",
    "runs_table",
]

history_app = new_app(
    "Stored runs: history lists them, history show REF shows one, history benches lists "
    "benches, history import DIR stores a bench or run directory again.\n\n"
    "Example: aetherflow history --status failed --limit 10")

_STATUS_STYLE = {"running": "cyan", "passed": "green", "unvalidated": "blue",
                 "failed": "red", "interrupted": "magenta", "crashed": "bold red"}
#: ``results.run.RunStatus`` (a unit test keeps them equal: the records load late).
RUN_STATUSES: tuple[str, ...] = ("running", "passed", "unvalidated", "failed", "interrupted",
                              "crashed")
_GAP = 2  # spaces between two columns


# --- formatting for people -------------------------------------------------------------------


def fmt_cost(usd: float | None) -> str:
    """``$0.00012``, ``$0.0012``, ``$1.23``, ``$1,234``; ``n/a`` when not priced, ``$0``
    for a run that made no request."""
    if usd is None:
        return "n/a"
    if usd == 0:
        return "$0"
    if usd < 0.000001:
        return "<$0.000001"
    if usd < 0.01:  # two significant digits: $0.0012, $0.00034
        rounded = float(f"{usd:.2g}")
        return f"${rounded:.{1 - math.floor(math.log10(rounded))}f}"
    return f"${usd:,.2f}" if usd < 1000 else f"${usd:,.0f}"


def fmt_duration(ms: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``; ``n/a`` when not measured."""
    if ms is None:
        return "n/a"
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"


def _local(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso).astimezone()
    except ValueError:
        return None


def fmt_started(runs: Sequence[RunSummary]) -> Callable[[RunSummary], str]:
    """A formatter for start times in local time: ``MM-DD HH:MM`` when every run started
    this year, else ``YYYY-MM-DD HH:MM``; unparsable times are shown as stored."""
    this_year = datetime.now().astimezone().year
    stamps = [_local(r.started_at) for r in runs]
    short = all(s is not None and s.year == this_year for s in stamps)
    pattern = "%m-%d %H:%M" if short else "%Y-%m-%d %H:%M"

    def cell(run: RunSummary) -> str:
        moment = _local(run.started_at)
        return run.started_at if moment is None else moment.strftime(pattern)

    return cell


def short_path(path: str | None) -> str:
    """A directory for display: relative to the current directory when inside it, else
    with the home directory as ``~``; ``-`` when not recorded."""
    if not path:
        return "-"
    try:
        rel = os.path.relpath(path)
        if not rel.startswith(".."):
            return rel
    except ValueError:
        pass
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


def _clip(text: str, width: int, keep: Literal["head", "tail"]) -> str:
    if len(text) <= width:
        return text
    return text[: width - 1] + "…" if keep == "head" else "…" + text[len(text) - width + 1:]


# --- the run table ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    """A listing column. ``fixed`` columns (ids, numbers, statuses) are never shrunk; a
    text column may be shortened with ``…`` down to ``least`` characters."""

    key: str
    header: str
    cell: Callable[[RunSummary], str]
    fixed: bool
    right: bool = False
    keep: Literal["head", "tail"] = "head"
    least: int = 10


def _provider(run: RunSummary) -> str:
    return f"{run.provider}/{run.model}" if run.model else run.provider


def _columns(runs: Sequence[RunSummary]) -> dict[str, _Column]:
    started = fmt_started(runs)
    cols = [
        _Column("id", "id", lambda r: str(r.id), True, right=True),
        _Column("run", "run", lambda r: r.short_id, True),
        _Column("run_id", "run id", lambda r: r.run_id, True),
        _Column("label", "label", lambda r: r.label or "-", False),
        _Column("plan", "plan", lambda r: r.task_id, False),
        _Column("provider", "provider/model", _provider, False, least=14),
        _Column("emu", "emu", lambda r: "yes" if r.emulated else "no", True),
        _Column("status", "status", lambda r: r.status, True),
        _Column("steps", "p/f/u/s", lambda r: f"{r.steps_passed}/{r.steps_failed}/"
                f"{r.steps_unvalidated}/{r.steps_skipped}", True, right=True),
        _Column("cost", "cost", lambda r: fmt_cost(r.total_cost_usd), True, right=True),
        _Column("time", "time", lambda r: fmt_duration(r.makespan_ms), True, right=True),
        _Column("started", "started", started, True),
        _Column("bench", "bench", lambda r: "-" if r.bench_id is None else str(r.bench_id),
                True, right=True),
        _Column("dir", "run dir", lambda r: short_path(r.run_dir), False, keep="tail",
                least=24),
    ]
    return {c.key: c for c in cols}


#: Which columns get in first when the console is narrow.
_PRIORITY = ("id", "status", "steps", "run", "cost", "started", "label", "plan", "emu",
             "provider", "bench", "time", "dir", "run_id")
#: The order columns are shown in.
_ORDER = ("id", "run", "run_id", "label", "plan", "provider", "emu", "status", "steps",
          "cost", "time", "started", "bench", "dir")
#: Columns that leave the table for the title line when every run has the same value.
_COMMON = ("plan", "provider", "emu")


def common_values(runs: Sequence[RunSummary]) -> dict[str, str]:
    """The plan, provider/model and emulated flag when every listed run (two or more)
    shares them: said once above the table instead of in a column."""
    if len(runs) < 2:
        return {}
    values = {"plan": {r.task_id for r in runs}, "provider": {_provider(r) for r in runs},
              "emu": {"all emulated" if r.emulated else "none emulated" for r in runs}}
    return {k: v.pop() for k, v in values.items() if len(v) == 1}


def _natural(col: _Column, runs: Sequence[RunSummary]) -> int:
    return max([len(col.header), *(len(col.cell(r)) for r in runs)])


def _least(col: _Column, natural: int) -> int:
    return natural if col.fixed else min(natural, col.least)


def choose_columns(runs: Sequence[RunSummary], width: int) -> list[tuple[_Column, int]]:
    """The columns that fit ``width`` (by priority; ids and numbers at full width) and the
    width each gets, in display order. Text columns share what is left."""
    cols = _columns(runs)
    natural = {k: _natural(c, runs) for k, c in cols.items() if k not in common_values(runs)}
    if all(r.short_id == r.run_id for r in runs):
        natural.pop("run_id")  # the short form already is the whole id
    chosen: list[str] = []
    for key in (k for k in _PRIORITY if k in natural):
        trial = [*chosen, key]
        need = sum(_least(cols[k], natural[k]) for k in trial) + _GAP * (len(trial) - 1)
        if need <= width or not chosen:
            chosen = trial
    if "run_id" in chosen and "run" in chosen:
        chosen.remove("run")  # the full id is there: the short one adds nothing
    widths = _share(cols, natural, chosen, width)
    return [(cols[k], widths[k]) for k in _ORDER if k in chosen]


def _share(cols: dict[str, _Column], natural: dict[str, int], chosen: list[str],
           width: int) -> dict[str, int]:
    widths = {k: _least(cols[k], natural[k]) for k in chosen}
    spare = width - sum(widths.values()) - _GAP * (len(chosen) - 1)
    growing = [k for k in chosen if widths[k] < natural[k]]
    while spare > 0 and growing:
        share = max(1, spare // len(growing))
        for k in list(growing):
            extra = min(share, natural[k] - widths[k], spare)
            widths[k] += extra
            spare -= extra
            if widths[k] >= natural[k]:
                growing.remove(k)
    return widths


def runs_table(runs: Sequence[RunSummary], width: int) -> Table:
    """The listing of ``runs`` for a console ``width`` columns wide."""
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False,
                  header_style="bold")
    layout = choose_columns(runs, width)
    for col, w in layout:
        table.add_column(col.header, width=w, no_wrap=True, overflow="ellipsis",
                         justify="right" if col.right else "left")
    for run in runs:
        cells: list[Text] = []
        for col, w in layout:
            text = col.cell(run) if col.fixed else _clip(col.cell(run), w, col.keep)
            style = _STATUS_STYLE.get(run.status, "") if col.key == "status" else ""
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    return table


def listing_title(shown: int, total: int, runs: Sequence[RunSummary]) -> str:
    """``10 of 42 stored runs, newest first (--limit 0 for all)`` and, on a second line,
    what every listed run shares (``plan calculator · openai/gpt-4o · all emulated``)."""
    count = f"{shown} of {total}" if total > shown else f"{shown}"
    more = " (--limit 0 for all)" if total > shown else ""
    title = f"{count} stored run{'s' if total != 1 else ''}, newest first{more}"
    common = [f"plan {v}" if k == "plan" else v for k, v in common_values(runs).items()]
    return title + ("\n" + " · ".join(common) if common else "")


# --- benches -----------------------------------------------------------------------------------


def benches_table(benches: Sequence[BenchSummary], width: int) -> Table:
    """The listing of benches: id, label, plan, runs stored / planned, created, directory
    (shortened from the left with ``…`` when ``width`` is too narrow for it)."""
    from rich.table import Table

    table = Table(box=None, padding=(0, 1), pad_edge=False, show_edge=False,
                  header_style="bold")
    rows = []
    for b in benches:
        created = _local(b.created_at)
        rows.append([str(b.id), b.label or "-", b.task_id,
                     f"{b.run_count}/{b.repeats if b.repeats is not None else '?'}",
                     created.strftime("%Y-%m-%d %H:%M") if created else b.created_at,
                     short_path(b.output_dir)])
    headers = ("id", "label", "plan", "runs", "created", "dir")
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    room = max(12, width - sum(widths[:-1]) - _GAP * (len(headers) - 1))
    for header in headers:
        table.add_column(header, justify="right" if header in ("id", "runs") else "left",
                         no_wrap=True)
    for row in rows:
        table.add_row(*row[:-1], _clip(row[-1], room, "tail"))
    return table


# --- one run, like `llm logs` ------------------------------------------------------------------


def fenced(text: str, info: str = "") -> str:
    """``text`` verbatim inside a code fence longer than any backtick run it contains, so
    a model's unterminated fences cannot swallow the rest of the page."""
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text.rstrip(chr(10))}\n{fence}"


def _messages(items: Sequence[Any]) -> str | None:
    if not all(isinstance(m, dict) and "content" in m for m in items):
        return None
    return "\n\n".join(f"**{m.get('role', 'message')}**\n\n{fenced(str(m['content']))}"
                       for m in items)


def prompt_text(data: Any) -> str:
    """A stored prompt for reading: chat messages as ``**role**`` blocks, text fenced,
    anything else as indented JSON."""
    if isinstance(data, str):
        return fenced(data)
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        data = data["messages"]
    if isinstance(data, list) and (text := _messages(data)) is not None:
        return text
    if isinstance(data, dict) and data and all(isinstance(v, str) for v in data.values()):
        return "\n\n".join(f"**{k}**\n\n{fenced(v)}" for k, v in data.items())
    return fenced(json.dumps(data, indent=2, ensure_ascii=False), "json")


def _step_prompt(step: StepRecord, run_dir: Path | None) -> str:
    recorded = getattr(step, "prompt", None)
    if recorded:
        return prompt_text(recorded.model_dump() if hasattr(recorded, "model_dump")
                           else recorded)
    if run_dir is not None:
        file = run_dir / "prompts" / f"{step.step_id}.json"  # runs written before 2026-12
        try:
            return prompt_text(json.loads(file.read_text(encoding="utf-8")))
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            return f"_(prompt file {file} unreadable: {exc})_"
        messages = _journal_prompts(run_dir).get(step.step_id)
        if messages:
            return prompt_text({"step_id": step.step_id, "messages": messages})
    return "_(prompt not recorded for this run)_"


def _journal_prompts(run_dir: Path) -> dict[str, list[dict[str, str]]]:
    """Each step's first request, from the run's journal (read once per run directory)."""
    key = str(run_dir)
    if key not in _PROMPTS:
        from aetherflow.execution.journal import JOURNAL_FILE, step_prompts

        _PROMPTS[key] = step_prompts(run_dir / JOURNAL_FILE)
    return _PROMPTS[key]


_PROMPTS: dict[str, dict[str, list[dict[str, str]]]] = {}


def _step_output(step: StepRecord, run_dir: Path | None) -> str:
    if step.status == "skipped" or (not step.output_file and not step.attempts):
        return f"_(no output: {step.reason or 'the step did not run'})_"
    if run_dir is None:
        return "_(output not available: no run directory)_"
    file = run_dir / (step.output_file or f"step_outputs/{step.step_id}.md")
    try:
        text = file.read_text(encoding="utf-8")
        return fenced(text, "markdown") if text.strip() else "_(empty output)_"
    except FileNotFoundError:
        why = f": {step.reason}" if step.reason else ""
        return f"_(no output file {file}{why})_"
    except OSError as exc:
        return f"_(output file {file} unreadable: {exc.strerror or exc})_"


def _verdict_line(v: Verdict) -> str:
    how: list[str] = [v.method if v.method != "none" else "not executed"]
    if v.sandbox:
        how.append(f"sandbox {v.sandbox}")
    if v.duration_ms is not None:
        how.append(fmt_duration(v.duration_ms))
    line = f"- **{v.status}** · {v.criterion} ({', '.join(how)})"
    if v.reason:
        line += f" — {v.reason}"
    if v.output_tail and v.status in ("failed", "error"):
        tail = "\n".join("      " + t for t in v.output_tail.rstrip().splitlines())
        line += f"\n\n{tail}"
    return line


def _count(value: int | None) -> str:
    return "n/a" if value is None else f"{value:,}"


def _step_header(step: StepRecord) -> list[str]:
    head = f"## {step.step_id} · {step.type} · {step.status}"
    who = "/".join(p for p in (step.provider, step.model) if p)
    facts = [*([who] if who else []),
             f"{len(step.attempts)} attempt{'s' if len(step.attempts) != 1 else ''}",
             f"time {fmt_duration(step.step_time_ms)}"]
    last = step.attempts[-1] if step.attempts else None
    if last is not None:
        facts.append(f"tokens in {_count(last.usage.input.value)} / out "
                     f"{_count(last.usage.output.value)}")
        costs = [a.cost.total_usd for a in step.attempts]
        facts.append("cost " + fmt_cost(None if None in costs else sum(c or 0 for c in costs)))
    lines = [head, "", " · ".join(facts)]
    if step.reason:
        lines.append(f"reason: {step.reason}")
    for a in step.attempts if len(step.attempts) > 1 else []:
        err = f" — {a.error_kind}: {a.error_message}" if a.status == "error" else ""
        lines.append(f"- attempt {a.attempt} ({a.kind}) {a.status}{err}")
    return lines


def _run_header(run: RunSummary, record: RunRecord) -> list[str]:
    cfg = record.config
    where = f" ({record.plan_path})" if record.plan_path else ""
    setup = [f"provider {cfg.provider}", f"model {cfg.model or run.model or 'n/a'}",
             "emulated" if run.emulated else "not emulated"]
    if cfg.base_url:
        setup.append(f"base_url {cfg.base_url}")
    lines = [
        f"# run {run.id} · {run.run_id}",
        "",
        f"label {run.label or '-'} · bench {run.bench_id or '-'} · status **{run.status}**",
        f"plan: {record.task_id}{where}",
        " · ".join(setup),
        f"settings: concurrency {cfg.concurrency} · max_tokens {cfg.max_tokens} · "
        f"temperature {cfg.temperature} · step timeout {cfg.step_timeout_s:g} s · "
        f"max attempts {cfg.max_attempts} · prompt cache {cfg.prompt_cache}",
        f"started {record.started_at} · finished {record.finished_at or '-'} · "
        f"makespan {fmt_duration(record.makespan_ms)} · cost {fmt_cost(run.total_cost_usd)}"
        + (f" ({run.cost_note})" if run.cost_note else ""),
        f"steps: {run.steps_passed:,} passed · {run.steps_failed:,} failed · "
        f"{run.steps_unvalidated:,} unvalidated · {run.steps_skipped:,} skipped",
        f"run dir: {run.run_dir or '(not recorded)'}",
    ]
    if record.plan_description:
        lines.insert(4, f"  {record.plan_description}")
    lines += [f"warning: {w}" for w in record.warnings]
    return lines


def pick_steps(record: RunRecord, step_ids: Sequence[str] = (),
               statuses: Sequence[str] = ()) -> list[StepRecord]:
    """The steps of ``record`` named in ``step_ids`` and with a status in ``statuses`` (an
    empty filter keeps all), in run order. An id or a status that no step has is a
    :class:`ConfigError` naming the ones that exist."""
    from aetherflow.results.run import StepStatus  # the CLI's start loads no model

    known = {s.step_id for s in record.steps}
    unknown = [i for i in step_ids if i not in known]
    if unknown:
        some = ", ".join(s.step_id for s in record.steps[:10])
        more = f" and {len(known) - 10:,} more" if len(known) > 10 else ""
        raise ConfigError(f"--step {', '.join(unknown)}: no such step in run "
                          f"{record.run_id} (its steps: {some or 'none'}{more})")
    bad = [s for s in statuses if s not in get_args(StepStatus)]
    if bad:
        raise ConfigError(f"--status {', '.join(bad)}: expected one of "
                          f"{', '.join(get_args(StepStatus))}")
    return [s for s in record.steps if (not step_ids or s.step_id in step_ids)
            and (not statuses or s.status in statuses)]


def render_run(run: RunSummary, record: RunRecord,
               steps: Sequence[StepRecord] | None = None) -> str:
    """One stored run as Markdown: setup, then per step its prompt, output and checks
    (``steps``: only these, see :func:`pick_steps`; default every step)."""
    run_dir = Path(run.run_dir) if run.run_dir else None
    if run_dir is not None and not run_dir.is_dir():
        run_dir = None
    out = _run_header(run, record)
    if run.run_dir and run_dir is None:
        out.append(f"_(the run directory {run.run_dir} no longer exists: prompts and "
                   "outputs are not available)_")
    if steps is not None:
        out.append(f"showing {len(steps):,} of {len(record.steps):,} steps")
    for step in record.steps if steps is None else steps:
        checks = [_verdict_line(v) for v in step.validation] or ["_(no checks)_"]
        out += ["", *_step_header(step), "", "### prompt", "", _step_prompt(step, run_dir),
                "", "### output", "", _step_output(step, run_dir), "", "### checks", "",
                *checks]
    if not record.steps:
        out += ["", "_(no step recorded yet)_"]
    return "\n".join(out) + "\n"


# --- commands ----------------------------------------------------------------------------------


def _since(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigError(f"--since {value!r}: expected an ISO date/time, e.g. 2025-01-31") \
            from exc


def _statuses(values: list[str]) -> list[str] | None:
    wanted = [s.strip() for v in values for s in v.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in RUN_STATUSES]
    if unknown:
        raise ConfigError(f"--status {', '.join(unknown)}: expected one of "
                          f"{', '.join(RUN_STATUSES)}")
    return wanted or None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2) + "\n")


def _console() -> Console:
    from rich.console import Console

    return Console()


def _store() -> Any:
    from aetherflow.store.history import HistoryStore

    return HistoryStore()


@history_app.callback(invoke_without_command=True)
def history_command(
    ctx: typer.Context,
    plan: str | None = typer.Option(None, "--plan", metavar="PLAN",
                                    help="Task id, plan path or plan name."),
    since: str | None = typer.Option(None, "--since", metavar="WHEN",
                                     help="ISO date/time (UTC if naive), e.g. 2025-01-31."),
    label: str | None = typer.Option(None, "--label", metavar="TEXT",
                                     help="Only runs with this label."),
    status: list[str] = typer.Option(
        [], "--status", metavar="STATUS",
        help="Only runs with this status (repeatable or comma-separated): "
             + ", ".join(RUN_STATUSES) + "."),
    limit: int = typer.Option(50, "--limit", metavar="N",
                              help="At most this many runs (0 = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List runs stored in the history database ($AETHERFLOW_HOME/history.db), newest
    first."""
    if ctx.invoked_subcommand is not None:
        return
    filters: dict[str, Any] = {"plan": plan, "since": _since(since), "label": label,
                               "status": _statuses(status)}
    with _store() as store:
        runs = store.list_runs(limit=limit or None, **filters)
        total = store.count_runs(**filters) if limit and len(runs) == limit else len(runs)
        path = store.path
    if as_json:
        _print_json([r.model_dump(mode="json") for r in runs])
        return
    console = _console()
    if not runs:
        console.print(f"no stored runs match in {path}", markup=False, highlight=False)
        return
    console.print(listing_title(len(runs), total, runs), markup=False, highlight=False)
    console.print(runs_table(runs, console.width))
    console.print("p/f/u/s = steps passed/failed/unvalidated/skipped · "
                  "details: aetherflow history show ID",
                  markup=False, highlight=False, style="dim")


@history_app.command("show", cls=Command)
def history_show(
    ref: str = typer.Argument(..., metavar="REF",
                              help="History id (or run:N), run id or a unique prefix or "
                                   "short id of one, label, or run directory."),
    as_json: bool = typer.Option(False, "--json", help="Print the stored run record."),
    step: list[str] = typer.Option([], "--step", metavar="ID",
                                   help="Only this step (repeatable)."),
    status: list[str] = typer.Option([], "--status", metavar="STATUS",
                                     help="Only steps with this status: passed, failed, "
                                          "unvalidated or skipped (repeatable, or "
                                          "comma-separated)."),
) -> None:
    """Show one stored run: its setup, then each step's prompt, output and check verdicts
    (Markdown). For a run of thousands of steps, --status failed or --step ID shows the
    ones you want.

    Example: aetherflow history show 12 --status failed,skipped
    """
    with _store() as store:
        run = store.get_summary(ref)
        record = store.load_record(run)
    if as_json:
        sys.stdout.write(record.model_dump_json(indent=2) + "\n")
        return
    statuses = [s.strip() for v in status for s in v.split(",") if s.strip()]
    picked = pick_steps(record, step, statuses) if step or statuses else None
    sys.stdout.write(render_run(run, record, picked))


@history_app.command("benches", cls=Command)
def history_benches(
    label: str | None = typer.Option(None, "--label", metavar="TEXT",
                                     help="Only benches with this label."),
    limit: int = typer.Option(50, "--limit", metavar="N",
                              help="At most this many benches (0 = all)."),
    as_json: bool = typer.Option(False, "--json", help="Print the list as JSON."),
) -> None:
    """List benches (newest first): id, label, plan, runs stored, directory.

    Example: aetherflow history benches --label nightly
    """
    with _store() as store:
        benches = store.list_benches(label=label, limit=limit or None)
    if as_json:
        _print_json([b.model_dump(mode="json") for b in benches])
        return
    console = _console()
    if not benches:
        console.print("no benches stored", markup=False, highlight=False)
        return
    console.print(benches_table(benches, console.width))


@history_app.command("import", cls=Command)
def history_import(
    paths: list[Path] = typer.Argument(..., metavar="DIR...",
                                       help="Bench directories (benchmark_data.json) or run "
                                            "directories (run.json)."),
) -> None:
    """Store the runs of bench or run directories in the history (again): nothing already
    stored is duplicated, runs an older version overwrote are added back.

    Example: aetherflow history import bench_results/*
    """
    from aetherflow.bench.sources import import_into_history  # only this command needs it

    console = _console()
    with _store() as store:
        for path in paths:
            result = import_into_history(path, store)
            bench = f"bench {result.bench_id} · " if result.bench_id is not None else ""
            renamed = f" ({result.renamed} under a new run id)" if result.renamed else ""
            console.print(f"{path}: {bench}{len(result.saved)} runs: {result.added} added"
                          f"{renamed}, {len(result.saved) - result.added} already stored",
                          markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add ``history`` (with ``show``, ``benches`` and ``import``) to ``app``."""
    app.add_typer(history_app, name="history")
