"""Plans: typed model, loading with clear errors, and the dependency graph."""

from aetherflow.plan.dag import critical_path, find_cycle, topological_batches
from aetherflow.plan.loader import load_plan, parse_plan, plan_json_schema
from aetherflow.plan.models import Criterion, Plan, Step, StepContext, StepType

__all__ = [
    "Criterion",
    "Plan",
    "Step",
    "StepContext",
    "StepType",
    "critical_path",
    "find_cycle",
    "load_plan",
    "parse_plan",
    "plan_json_schema",
    "topological_batches",
]
