"""The runner: plan a suite into jobs with content-derived cache keys, then execute them."""

from .execute import RunResult, Runner, run_suite

__all__ = ["Runner", "RunResult", "run_suite"]
