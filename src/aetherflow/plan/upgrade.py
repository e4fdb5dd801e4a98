"""``plan upgrade``: propose structured checks for free-text criteria where a rule is certain.

A free-text criterion ("calc.py is created", "must contain `def add(`") is only pasted into
a prompt or judged; a structured check is executed. Each rule below matches a *whole*
sentence (never a fragment of one) and proposes checks that are necessary conditions of
it: a proposal can fail only where the sentence is certainly not met. The free-text
criterion is always kept, with the proposals inserted right after it; nothing is deleted
or reworded. A sentence no rule matches in full is listed as not converted.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aetherflow.errors import ConfigError
from aetherflow.plan.keys import Locator
from aetherflow.plan.loader import load_plan, parse_plan

__all__ = [
    "CriterionUpgrade",
    "PlanUpgrade",
    "default_upgrade_path",
    "propose_checks",
    "upgrade_plan",
    "upgrade_plan_file",
]

Check = dict[str, str]

# --- the rules ---------------------------------------------------------------------------------

_I = re.IGNORECASE
_QUOTED = r"(?:`[^`]+`|'[^']+'|\"[^\"]+\")"
_QUOTED_LIST = rf"{_QUOTED}(?:(?:\s*,\s*and\s+|\s*,\s*|\s+and\s+){_QUOTED})*"
_FILE = r"(?P<q>[`'\"]?)(?P<file>[\w][\w.\-/]*\.[A-Za-z0-9]+)(?P=q)"
_KIND = r"(?:(?:new\s+|test\s+|source\s+|python\s+|output\s+|markdown\s+|config\s+)?file\s+)?"
_SUBJECT = (r"(?:(?:the\s+)?(?:code|output|file|module|script|result|response|answer|"
            r"implementation|class|function|it)\s+)?")
_MODAL = r"(?:(?:must|should|shall|will)\s+)?"
_CODE = r"(?:(?:the\s+)?(?:code|output|file|module|script|implementation)\s+)?"

_FILE_RULES = [
    re.compile(rf"(?:the\s+|a\s+)?{_KIND}{_FILE}(?:\s+file)?\s+(?:is\s+|was\s+|gets\s+|"
               rf"has\s+been\s+|(?:must|should|will)\s+be\s+)?(?:created|generated|written)", _I),
    re.compile(rf"(?:the\s+|a\s+)?{_KIND}{_FILE}(?:\s+file)?\s+(?:exists|"
               rf"(?:must|should|will)\s+exist)", _I),
    re.compile(rf"(?:creates?|generates?|writes?)\s+(?:the\s+|a\s+)?{_KIND}{_FILE}", _I),
]
_CONTAINS_RULES = [
    re.compile(
        rf"{_SUBJECT}{_MODAL}(?:contains?|includes?|defines?|has|have|mentions?|uses?)\s+"
        r"(?:(?:the|a|an)\s+)?(?:(?:text|string|strings|line|code|call|import|statement|"
        r"keyword|word|identifier|function|functions|method|methods|class|classes|decorator|"
        r"constant|variable|type|header|heading|section|phrase|term)\s+)?"
        rf"(?:(?:named|called)\s+)?(?P<list>{_QUOTED_LIST})", _I),
    re.compile(rf"(?P<list>{_QUOTED_LIST})\s+(?:is|are)\s+(?:present|defined|included)"
               r"(?:\s+in\s+the\s+(?:code|output|file|module))?", _I),
    re.compile(rf"{_SUBJECT}{_MODAL}(?:contains?|includes?|defines?|has|have)\s+"
               r"(?:(?:the|a|an)\s+)?(?:function|method|class)\s+(?:named|called)\s+"
               r"(?P<ident>[A-Za-z_][A-Za-z0-9_]*)", _I),
]
_SYNTAX_PYTHON_RULES = [  # say "Python": certain whatever the step's language
    re.compile(rf"{_CODE}(?:is\s+|has\s+|uses\s+|(?:must|should)\s+(?:be|have)\s+)?"
               r"(?:syntactically\s+)?valid\s+python(?:\s+3)?(?:\s+(?:syntax|code))?", _I),
    re.compile(r"(?:the\s+)?python\s+(?:syntax|code)\s+is\s+valid", _I),
    re.compile(rf"{_CODE}(?:has\s+)?no\s+python\s+syntax\s+errors", _I),
]
_SYNTAX_RULES = [  # generic wording: only for a Python step
    re.compile(rf"{_CODE}{_MODAL}(?:compiles?|parses?)(?:\s+(?:cleanly|successfully|without\s+"
               r"(?:any\s+)?(?:errors|syntax\s+errors)))?", _I),
    re.compile(rf"{_CODE}(?:has\s+|contains\s+)?no\s+syntax\s+errors", _I),
    re.compile(rf"{_CODE}(?:is\s+)?syntactically\s+(?:valid|correct)", _I),
    re.compile(r"(?:the\s+)?syntax\s+is\s+(?:valid|correct)", _I),
]
_RUFF_RULES = [  # name ruff: certain whatever the step's language
    re.compile(rf"{_CODE}{_MODAL}pass(?:es)?\s+(?:a\s+)?ruff(?:\s+check)?(?:\s+(?:cleanly|"
               r"without\s+(?:errors|warnings|issues)))?", _I),
    re.compile(rf"{_CODE}(?:is\s+)?ruff[\s\-]clean", _I),
    re.compile(r"ruff(?:\s+check)?\s+passes", _I),
    re.compile(rf"{_CODE}(?:has\s+)?no\s+ruff\s+(?:errors|warnings|violations|issues)", _I),
]
_LINT_RULES = [  # generic wording: only for a Python step (ruff is the Python linter here)
    re.compile(rf"{_CODE}(?:is\s+)?lint[\s\-]clean", _I),
    re.compile(rf"{_CODE}{_MODAL}pass(?:es)?\s+(?:the\s+)?(?:lint|linting|linter)(?:\s+checks?)?",
               _I),
    re.compile(rf"{_CODE}(?:has\s+)?no\s+(?:lint|linting|linter)\s+(?:errors|warnings|issues)",
               _I),
    re.compile(r"(?:the\s+)?linter\s+passes", _I),
]


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().lstrip("-*• ").rstrip(".!;").strip()


def _quoted_items(text: str) -> list[str]:
    return [m[1:-1] for m in re.findall(_QUOTED, text)]


def _file_check(text: str) -> list[Check]:
    for rule in _FILE_RULES:
        if (m := rule.fullmatch(text)) is not None:
            name = m["file"]
            if ".." not in Path(name).parts:
                return [{"check": "command", "run": f"test -f {shlex.quote(name)}"}]
    return []


def _contains_checks(text: str) -> list[Check]:
    for rule in _CONTAINS_RULES:
        if (m := rule.fullmatch(text)) is not None:
            items = [m["ident"]] if "ident" in rule.groupindex else _quoted_items(m["list"])
            return [{"check": "contains", "text": item} for item in items if item.strip()]
    return []


def _matches(rules: list[re.Pattern[str]], text: str) -> bool:
    return any(rule.fullmatch(text) for rule in rules)


def _syntax_check(text: str, python: bool) -> list[Check]:
    certain = _matches(_SYNTAX_PYTHON_RULES, text) or (python and _matches(_SYNTAX_RULES, text))
    return [{"check": "python_syntax"}] if certain else []


def _ruff_check(text: str, python: bool) -> list[Check]:
    certain = _matches(_RUFF_RULES, text) or (python and _matches(_LINT_RULES, text))
    return [{"check": "ruff"}] if certain else []


_RULES: list[tuple[str, Callable[[str, bool], list[Check]]]] = [
    ("file created", lambda text, _python: _file_check(text)),
    ("must contain", lambda text, _python: _contains_checks(text)),
    ("valid syntax", _syntax_check),
    ("lint clean", _ruff_check),
]


def propose_checks(text: str, language: str | None = None) -> tuple[str, list[Check]] | None:
    """The rule a free-text criterion matches in full and the checks it proposes, or None.

    ``language`` is the step's ``context.language``: generic wording ("code compiles",
    "lint clean") becomes a Python check only for a Python step.
    """
    sentence = _normalise(text)
    python = (language or "").strip().lower() in ("python", "python3")
    for name, rule in _RULES:
        if checks := rule(sentence, python):
            return name, checks
    return None


# --- applying them to a plan -------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionUpgrade:
    """What ``plan upgrade`` did with one free-text criterion.

    ``location`` is the criterion's JSON path in the input plan. ``added`` are the checks
    inserted after it, ``already`` proposals the step had already; ``rule`` is ``None``
    when no rule matched (the criterion was left as it is).
    """

    location: str
    step_id: str
    text: str
    rule: str | None = None
    added: list[Check] = field(default_factory=list)
    already: list[Check] = field(default_factory=list)

    @property
    def converted(self) -> bool:
        """True when a rule matched the criterion."""
        return self.rule is not None


@dataclass(frozen=True)
class PlanUpgrade:
    """The upgraded plan (decoded JSON, every original key kept) and a line per criterion."""

    data: dict[str, Any]
    criteria: list[CriterionUpgrade]

    @property
    def converted(self) -> list[CriterionUpgrade]:
        """Free-text criteria a rule matched."""
        return [c for c in self.criteria if c.converted]

    @property
    def unconverted(self) -> list[CriterionUpgrade]:
        """Free-text criteria left as they are (no certain rule)."""
        return [c for c in self.criteria if not c.converted]


def _upgrade_step(step: dict[str, Any], i: int, language: str | None,
                  locator: Locator) -> list[CriterionUpgrade]:
    criteria: list[Any] = step.get("validation_criteria") or []
    out: list[Any] = []
    report: list[CriterionUpgrade] = []
    for j, criterion in enumerate(criteria):
        out.append(criterion)
        if not isinstance(criterion, str):
            continue
        where = locator.path(("steps", i, "validation_criteria", j))
        proposal = propose_checks(criterion, language)
        if proposal is None:
            report.append(CriterionUpgrade(where, step["id"], criterion))
            continue
        rule, checks = proposal
        already = [c for c in checks if c in criteria or c in out]
        added = [c for c in checks if c not in already]
        out.extend(added)
        report.append(CriterionUpgrade(where, step["id"], criterion, rule, added, already))
    if "validation_criteria" in step:
        step["validation_criteria"] = out
    return report


def upgrade_plan(data: Mapping[str, Any], source: str = "<plan>") -> PlanUpgrade:
    """Propose structured checks for a plan's free-text criteria (``data`` is not changed).

    The plan must load (raises :class:`~aetherflow.errors.PlanError` otherwise); the result
    loads too and keeps every key of the input, in order.
    """
    plan = parse_plan(data, source)
    upgraded: dict[str, Any] = copy.deepcopy(dict(data))
    locator = Locator(upgraded)
    report: list[CriterionUpgrade] = []
    for i, (step, model) in enumerate(zip(upgraded["steps"], plan.steps, strict=True)):
        report += _upgrade_step(step, i, model.context.language, locator)
    parse_plan(upgraded, source)  # an upgrade never produces a plan that does not load
    return PlanUpgrade(upgraded, report)


def default_upgrade_path(path: Path) -> Path:
    """Where ``plan upgrade`` writes by default: ``<stem>.upgraded.json`` next to ``path``."""
    return path.with_name(f"{path.stem}.upgraded.json")


def upgrade_plan_file(path: str | Path, out: str | Path | None = None, *,
                      force: bool = False) -> tuple[Path, PlanUpgrade]:
    """Upgrade the plan at ``path`` and write it to ``out`` (default: ``<stem>.upgraded.json``).

    Never writes over the input plan; refuses an existing ``out`` unless ``force``.
    Raises :class:`~aetherflow.errors.PlanError` for a plan that does not load and
    :class:`~aetherflow.errors.ConfigError` for an output it will not write.
    """
    source = Path(path)
    target = Path(out) if out is not None else default_upgrade_path(source)
    load_plan(source)
    if target.resolve() == source.resolve():
        raise ConfigError(f"{target}: refusing to overwrite the input plan; choose another -o")
    if target.exists() and not force:
        raise ConfigError(f"{target}: already exists; pass --force to overwrite it")
    data = json.loads(source.read_text(encoding="utf-8"))
    result = upgrade_plan(data, str(source))
    try:
        target.write_text(json.dumps(result.data, indent=2, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{target}: cannot write: {exc.strerror or exc}") from exc
    return target, result
