"""Triplet-diagnostic values and example images of a suite, read from the results store.

Values are the store's ``values`` rows named ``<diagnostic label>/<value name>`` at each sample's
measured image, kept only at the diagnostic version the components table records; example images
are artefacts with role ``<diagnostic label>:<image name>`` (e.g. ``residual:ec``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..store import Store
from ..vocabulary import KEYS


@dataclass
class DiagnosticData:
    """``info``: label -> what the components table says (name, version, params, values);
    ``values``: long table ordinal, KEYS, image, bpp, diagnostic, name, value;
    ``images``: long table ordinal, KEYS, image, diagnostic, name, path."""

    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: Any = None
    images: Any = None

    def of(self, label: str):
        """The values of one diagnostic as a wide table: one row per sample, one column per value."""
        import pandas as pd

        v = self.values[self.values["diagnostic"] == label] if self.values is not None else None
        if v is None or v.empty:
            return pd.DataFrame(columns=["ordinal"] + KEYS + ["image", "bpp"])
        wide = v.drop_duplicates(["ordinal", "name"]).pivot(index="ordinal", columns="name", values="value")
        wide.columns.name = None
        keys = v.drop_duplicates("ordinal").set_index("ordinal")[KEYS + ["image", "bpp"]]
        return keys.join(wide).reset_index().sort_values("ordinal", kind="stable").reset_index(drop=True)


def load_diagnostics(store: Store, suite_hash: str, per_image) -> DiagnosticData:
    """The suite's diagnostic values and example images for the samples present in ``per_image``."""
    import pandas as pd

    info = store.components(suite_hash).get("diagnostic", {})
    rows = per_image[["ordinal"] + KEYS + ["image", "bpp"]]
    vals, imgs = [], []
    for label, i in info.items():
        cols, got = store.query(
            'SELECT p.ordinal, v.metric, v.version, v.value FROM plan p JOIN "values" v ON v.key = p.out_key '
            "AND v.role = p.out_role WHERE p.suite_hash = ? AND substr(v.metric, 1, ?) = ?",
            (suite_hash, len(label) + 1, label + "/"))
        df = pd.DataFrame(got, columns=cols)
        df = df[df["version"] == str(i.get("version", ""))]
        vals.append(pd.DataFrame({"ordinal": df["ordinal"], "diagnostic": label,
                                  "name": df["metric"].str.slice(len(label) + 1),
                                  "value": pd.to_numeric(df["value"], errors="coerce").astype(float)}))
        cols, got = store.query(
            "SELECT p.ordinal, a.role, a.path FROM plan p JOIN artefacts a ON a.key = p.out_key "
            "WHERE p.suite_hash = ? AND substr(a.role, 1, ?) = ?", (suite_hash, len(label) + 1, label + ":"))
        df = pd.DataFrame(got, columns=cols)
        imgs.append(pd.DataFrame({"ordinal": df["ordinal"], "diagnostic": label,
                                  "name": df["role"].str.slice(len(label) + 1), "path": df["path"]}))
    empty_v = pd.DataFrame(columns=["ordinal", "diagnostic", "name", "value"])
    empty_i = pd.DataFrame(columns=["ordinal", "diagnostic", "name", "path"])
    values = pd.concat(vals) if vals else empty_v
    images = pd.concat(imgs) if imgs else empty_i
    values = values.merge(rows, on="ordinal")[["ordinal"] + KEYS + ["image", "bpp", "diagnostic", "name", "value"]]
    images = images.merge(rows, on="ordinal")[["ordinal"] + KEYS + ["image", "diagnostic", "name", "path"]]
    return DiagnosticData(dict(info), values.reset_index(drop=True), images.reset_index(drop=True))
