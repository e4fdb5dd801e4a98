"""``bench slm-local``: the embedded small model (A) against a remote provider (B).

Both sides run the same plan with the same ``--set`` overlay. A is SmolLM2-135M on the
embedded llama.cpp server (cost 0: no per-token price). B is ``--remote`` (default
``openai``):

* real, when the provider's key is set (``--real``, or by default when the key exists);
* emulated, with ``--emulated`` or by default when no key is set: the provider emulator
  runs in a child process with :func:`~aetherflow.emulator.profile.cloud_profile` (or
  ``--emulator-profile``), saved as ``emulator_profile.json``. B's latency is then the
  emulator's model, its tokens the emulator's counts, its cost the provider's list price
  for them; every record says ``emulated``.

Quality is the pass rate of the plan's executed checks (docs/metrics.md), first try and after
repairs. An emulated B answers with the emulator's filler text (or a profile's scripted
replies), so its pass rate says nothing about the real provider's code: the report says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aetherflow.bench.pairs import (
    Executor,
    FocusedRun,
    Pair,
    Side,
    bench_emulator,
    bench_pair,
    headline_rows,
)
from aetherflow.errors import ConfigError, MissingKeyError
from aetherflow.execution.runner import RunOptions
from aetherflow.results.focused import FocusedData

__all__ = ["SLM_METRICS", "remote_key_available", "run_slm_local"]

SLM_METRICS: tuple[str, ...] = (
    "pass_rate", "first_try_pass_rate", "ttft_p50", "ttr_mean", "tpot_mean", "makespan",
    "output_tokens_mean",
    "cost_total",
)


def remote_key_available(provider: str, config_path: Path | None = None) -> bool:
    """Whether ``provider`` can be called for real (its key is set); unknown names raise."""
    from aetherflow.config import resolve_provider_settings

    try:
        resolve_provider_settings(provider, config_path=config_path)
    except MissingKeyError:
        return False
    return True


def run_slm_local(
    plan: Path, out: Path, repeats: int, overlay: Mapping[str, str], execute: Executor, *,
    remote: str = "openai", emulated: bool | None = None, model: str | None = None,
    emulator_profile: Path | None = None, config_path: Path | None = None,
) -> FocusedRun:
    """Bench local (A) and ``remote`` (B) into ``out/A`` and ``out/B`` and compare them; the
    report is ``slm_local_report.md``.

    ``emulated`` None means: emulate exactly when the remote's key is not set.
    """
    if "provider" in overlay or "model" in overlay:
        raise ConfigError("bench slm-local chooses the providers itself; use --remote/--model")
    if remote == "local":
        raise ConfigError("bench slm-local: --remote must be another provider than local")
    real_ok = remote_key_available(remote, config_path)
    if emulated is False and not real_ok:
        from aetherflow.config import resolve_provider_settings

        # --real without a key: this raises the MissingKeyError that names the variable
        resolve_provider_settings(remote, config_path=config_path)
    use_emulator = (not real_ok) if emulated is None else emulated
    out.mkdir(parents=True, exist_ok=True)
    local = Side(dict(overlay), RunOptions(provider="local", config_path=config_path),
                 "slm-local-local")
    if not use_emulator:
        remote_side = Side(dict(overlay), RunOptions(provider=remote, model=model,
                                                     config_path=config_path),
                           f"slm-local-{remote}")
        pair = bench_pair(f"local vs {remote}", plan, out, repeats, local, remote_side,
                          execute)
        return _result(plan, out, pair, emulated=False)
    with bench_emulator(out, emulator_profile) as emu:
        remote_side = Side(dict(overlay), RunOptions(provider=remote, model=model,
                                                     emulator_url=emu.url),
                           f"slm-local-emulated-{remote}")
        pair = bench_pair(f"local vs emulated {remote}", plan, out, repeats, local,
                          remote_side, execute)
    return _result(plan, out, pair, emulated=True)


def _result(plan: Path, out: Path, pair: Pair, *, emulated: bool) -> FocusedRun:
    b = pair.b.meta
    caveat = ("B is **emulated**: its latency is the emulator's model (emulator_profile.json), "
              "its token counts the emulator's, its cost the provider's list price for them. "
              "Use a real key (and --real) to measure the provider itself."
              if emulated else "B is the real provider, called with your key.")
    data = FocusedData(
        benchmark="slm-local", plan=str(plan),
        title=f"Focused benchmark: small local model vs {b.provider}",
        intro=[f"A = embedded {pair.a.meta.model or 'local model'} (llama.cpp, this machine); "
               f"B = {b.provider} {b.model or ''}. {caveat}",
               "Pass rate = steps whose executed checks all passed / (passed + failed + "
               "skipped); steps with nothing checkable are unvalidated and not counted."
               + (" B's answers are the emulator's filler text, so its pass rate says nothing "
                  "about the provider's code: it is n/a as a quality measure."
                  if emulated else "")],
        pairs=[pair.result(out)], headline=headline_rows([pair], SLM_METRICS),
        notes=["Details: A/ and B/ hold each bench's reports; comparison_report.* every "
               "metric, per provider and per task type."],
        report_file="slm_local_report.md")
    return FocusedRun.of(data, [pair])
