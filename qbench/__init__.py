"""qbench: a benchmark harness for compressed-image enhancement, learned compression and rescaling."""

__version__ = "0.1.0"

__all__ = ["__version__"]
