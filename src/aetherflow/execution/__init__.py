"""Plan execution: the async DAG executor, attempts, run directories and progress hooks."""

from aetherflow.execution.executor import ExecutionSettings, PlanExecutor, backoff_delay
from aetherflow.execution.observer import NullObserver, RunObserver
from aetherflow.execution.runner import ProviderPool, RunOptions, run_plan, run_plan_async

__all__ = [
    "ExecutionSettings",
    "NullObserver",
    "PlanExecutor",
    "ProviderPool",
    "RunObserver",
    "RunOptions",
    "backoff_delay",
    "run_plan",
    "run_plan_async",
]
