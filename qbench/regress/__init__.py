"""Regression checks between two sets of results: paired per-image comparison (``qbench
compare``), comparison against a committed baseline (``qbench check``) and the paired statistics
both use. Submodules are imported on use; this package imports nothing at load time."""
