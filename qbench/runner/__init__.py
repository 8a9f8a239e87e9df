"""The runner: resolve a suite, plan samples with content-derived keys, run the pipelines' stages
on an executor and the device, record everything in the store."""

from .run import RunResult, Runner

__all__ = ["Runner", "RunResult"]
