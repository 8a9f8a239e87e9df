"""Downloading one file: atomic writes, a progress bar, and no https -> http redirect.

Used by weight files (:mod:`qbench.weights`) and pinned datasets (:mod:`qbench.datasets.download`);
nothing here runs unless a download is asked for.
"""

from __future__ import annotations

import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from .errors import DataNotFoundError


class _NoDowngrade(urllib.request.HTTPRedirectHandler):
    """Follows redirects, except from https to anything else."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        """The redirected request; refused (URLError) when it would leave https."""
        if req.full_url.startswith("https:") and not newurl.startswith("https:"):
            raise urllib.error.URLError(f"refused a redirect from {req.full_url} to {newurl} (not https)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def download(url: str, dest: Path, progress: bool = True, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` (atomically) with a tqdm progress bar; an https download never
    follows a redirect to plain http."""
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        opener = urllib.request.build_opener(_NoDowngrade)
        with opener.open(url, timeout=timeout) as resp, os.fdopen(fd, "wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    bar.update(len(chunk))
        os.replace(tmp_name, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        Path(tmp_name).unlink(missing_ok=True)
        raise DataNotFoundError(f"cannot download {url}: {exc}") from exc
    return dest
