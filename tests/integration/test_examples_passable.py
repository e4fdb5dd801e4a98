"""The shipped example plans' checks can be passed: correct answers, served by the emulator,
pass every executed check (and a check sees its dependencies' files: toolkit imports the
four modules it re-exports)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from aetherflow.emulator import EmulatorServer
from aetherflow.emulator.profile import (
    EmulatorProfile,
    LatencyModelConfig,
    ProviderProfile,
    ReplyRule,
)
from aetherflow.execution import RunOptions, run_plan_async
from aetherflow.results.run import RunRecord


def _block(name: str, code: str) -> str:
    return f"```python\n# file: {name}\n{code}```\n"


ANSWERS: dict[str, dict[str, str]] = {
    "calculator.json": {
        "calc_module": _block("calc.py", (
            "def add(a, b):\n    return a + b\n\n\ndef subtract(a, b):\n    return a - b\n\n\n"
            "def multiply(a, b):\n    return a * b\n\n\ndef divide(a, b):\n"
            "    if b == 0:\n        raise ZeroDivisionError('b is 0')\n    return a / b\n")),
        "calc_tests": _block("test_calc.py", (
            "import pytest\n\nimport calc\n\n\ndef test_ops():\n    assert calc.add(1, 2) == 3\n"
            "    assert calc.subtract(1, 2) == -1\n    assert calc.multiply(2, 3) == 6\n"
            "    assert calc.divide(6, 3) == 2\n\n\ndef test_zero():\n"
            "    with pytest.raises(ZeroDivisionError):\n        calc.divide(1, 0)\n")),
    },
    "parallel_diamond.json": {
        "text_utils": _block("text_utils.py", (
            "import re\n\n\ndef slugify(text):\n"
            "    return re.sub(r'[^a-z0-9]+', '-', text.lower()).strip('-')\n\n\n"
            "def truncate(text, width):\n    if len(text) <= width:\n        return text\n"
            "    return text[: max(0, width - 3)] + '...'\n")),
        "stats_utils": _block("stats_utils.py", (
            "def mean(xs):\n    if not xs:\n        raise ValueError('empty')\n"
            "    return sum(xs) / len(xs)\n\n\ndef median(xs):\n    if not xs:\n"
            "        raise ValueError('empty')\n    s = sorted(xs)\n    n = len(s)\n"
            "    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2\n\n\n"
            "def sample_stdev(xs):\n    if len(xs) < 2:\n        raise ValueError('need 2')\n"
            "    m = mean(xs)\n"
            "    return (sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) ** 0.5\n")),
        "date_utils": _block("date_utils.py", (
            "import datetime\n\n\ndef parse_iso_date(text):\n"
            "    return datetime.date.fromisoformat(text)\n\n\n"
            "def business_days_between(start, end):\n    days = 0\n    day = start\n"
            "    while day < end:\n        if day.weekday() < 5:\n            days += 1\n"
            "        day += datetime.timedelta(days=1)\n    return days\n")),
        "validators": _block("validators.py", (
            "import re\n\n\ndef is_email(text):\n"
            "    return re.fullmatch(r'[^@\\s]+@[^@\\s]+\\.[^@\\s]+', text) is not None\n\n\n"
            "def is_hex_color(text):\n"
            "    return re.fullmatch(r'#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})', text) is not None\n")),
        "toolkit": _block("toolkit.py", (
            "from date_utils import business_days_between, parse_iso_date\n"
            "from stats_utils import mean, median, sample_stdev\n"
            "from text_utils import slugify, truncate\n"
            "from validators import is_email, is_hex_color\n\n"
            "__all__ = ['business_days_between', 'is_email', 'is_hex_color', 'mean', 'median',\n"
            "           'parse_iso_date', 'sample_stdev', 'slugify', 'summarize', 'truncate']\n\n\n"
            "def summarize(values):\n    return {'mean': mean(values), 'median': median(values)}\n"
        )),
    },
}


@pytest.mark.parametrize("plan", sorted(ANSWERS))
def test_correct_answers_pass_every_check(tmp_path: Path, examples_dir: Path,
                                          plan: str) -> None:
    rules = [ReplyRule(contains=f"Step `{step}`", reply=reply)
             for step, reply in ANSWERS[plan].items()]
    profile = EmulatorProfile(require_auth=False, replies=rules, default=ProviderProfile(
        latency=LatencyModelConfig(ttft_base_ms=0, decode_ms_per_output_token=0)))

    async def go() -> RunRecord:
        async with EmulatorServer(profile) as emu:
            options = RunOptions(provider="openai", emulator_url=emu.url, repairs=0,
                                 max_tokens=2000, output=tmp_path / "run")
            record, _ = await run_plan_async(examples_dir / plan, options)
            return record

    record = asyncio.run(go())
    for step in record.steps:
        assert step.status == "passed", (step.step_id, step.reason, step.validation)
        assert step.first_try == "passed"
    assert record.status == "passed"
