"""Plans: typed model, loading with every problem reported, warnings, and the dependency graph."""

from aetherflow.errors import PlanProblem
from aetherflow.plan.dag import critical_path, find_cycle, topological_batches
from aetherflow.plan.keys import plan_warnings
from aetherflow.plan.loader import (
    PlanCheck,
    check_plan,
    check_plan_file,
    load_plan,
    parse_plan,
    plan_json_schema,
)
from aetherflow.plan.models import Criterion, PatchSpec, Plan, Step, StepContext, StepType

__all__ = [
    "Criterion",
    "PatchSpec",
    "Plan",
    "PlanCheck",
    "PlanProblem",
    "Step",
    "StepContext",
    "StepType",
    "check_plan",
    "check_plan_file",
    "critical_path",
    "find_cycle",
    "load_plan",
    "parse_plan",
    "plan_json_schema",
    "plan_warnings",
    "topological_batches",
]
