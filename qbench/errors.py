"""The qbench error hierarchy.

Library code raises these; only :mod:`qbench.cli` turns them into one-line messages and exit
codes. Each class carries the exit code the CLI uses for it (documented in the README).
"""

from __future__ import annotations

import errno

# file-system errors of the results folder itself (full, read-only, not permitted, a name too
# long): a run stops with an OutputError instead of failing job after job
FOLDER_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.ENAMETOOLONG})


class QbenchError(Exception):
    """Base class of every error qbench raises on purpose."""

    exit_code = 4


class SuiteError(QbenchError):
    """A suite file is malformed: names the file, the key path and a suggestion."""

    exit_code = 2

    def __init__(self, path: str, problems: list[str]):
        self.path = path
        self.problems = list(problems)
        super().__init__(self._format())

    def _format(self) -> str:
        if len(self.problems) == 1:
            return f"{self.path}: {self.problems[0]}"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"{self.path}: {len(self.problems)} problems\n{lines}"


class RegistryError(QbenchError):
    """An unknown or unloadable solver/codec/metric/dataset name."""

    exit_code = 2


class ConfigError(QbenchError):
    """Parameters that a component rejects (wrong type, out of range, unknown key); ``key``
    names the parameter when one is to blame (a suite error then points at ``...params.<key>``)."""

    exit_code = 2

    def __init__(self, message: str = "", key: str | None = None):
        super().__init__(message)
        self.key = key


class ImageError(QbenchError):
    """An image cannot be read or does not fit the dataset's channel policy."""

    exit_code = 3


class DataNotFoundError(QbenchError):
    """A dataset is neither present locally nor downloadable; says where to put which files."""

    exit_code = 3


class WeightsError(QbenchError):
    """A weight file is missing, fails its sha256 pin, or cannot be loaded safely."""

    exit_code = 3


class CodecError(QbenchError):
    """A codec failed to encode or decode, or its library/binary is missing."""

    exit_code = 3


class SolverError(QbenchError):
    """A solver failed or produced an invalid output (wrong shape, NaN/Inf)."""

    exit_code = 3


class StoreError(QbenchError):
    """The results store is missing, locked or from an incompatible version."""

    exit_code = 3


class CacheError(QbenchError):
    """Cache files of a results folder are missing or do not match their recorded hash."""

    exit_code = 3


class OutputError(QbenchError):
    """The results folder cannot be written: read-only, full disk, a name too long."""

    exit_code = 3
