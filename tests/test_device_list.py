"""Several devices on one machine without Ray (``--device cpu,cpu``: one device process per
listed device): the same store and files as one device, also when a device process dies (its
steps run on the other); malformed device lists and actor plans are usage errors."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from qbench.cli import main
from qbench.errors import ConfigError
from qbench.runner import Runner
from qbench.runner.device_pool import parse_devices
from qbench.runner.ray_devices import plan_actors
from qbench.suite import parse_suite

from .conftest import basic_suite

BITPLANE = "tests.solvers_for_tests:BitplaneCodec"
VALUES = 'SELECT key, role, metric, version, value FROM "values"'
ENCODINGS = "SELECT enc_key, nbytes, pixels, bpp, side_info, bytes_hash, decoded_hash FROM encodings"
ARTEFACTS = "SELECT key, role, hash, info FROM artefacts"


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def rows(out: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(out / "results.sqlite")
    try:
        return sorted(db.execute(sql).fetchall())
    finally:
        db.close()


def mixed_suite(folder: Path, **over) -> dict:
    """A rescaler (pre and post steps on the device) and a stochastic enhancer (seeded per step),
    after JPEG and a learned codec (coded on the device)."""
    return basic_suite(folder, codecs=[{"name": "jpeg", "qualities": [20]},
                                       {"name": BITPLANE, "label": "bitplane", "qualities": [2]}],
                       solvers=["identity", {"name": "tests.solvers_for_tests:SlowRescaler", "label": "resc"},
                                {"name": "tests.solvers_for_tests:Noisy", "label": "noisy"}],
                       metrics=["psnr_rgb", "ssim_y"], **over)


def same_results(a: Path, b: Path, subs: tuple[str, ...] = ("bitstreams", "outputs")) -> None:
    assert rows(a, VALUES) and rows(b, VALUES) == rows(a, VALUES)
    assert rows(b, ENCODINGS) == rows(a, ENCODINGS)
    assert rows(b, ARTEFACTS) == rows(a, ARTEFACTS)
    for sub in subs:
        got = files(a / "cache" / sub)
        assert got and files(b / "cache" / sub) == got, sub


def test_a_device_list_runs_one_worker_per_device_with_the_same_results(image_folder, tmp_path):
    """Two device processes, one killed part-way (its steps run on the other): the same store and
    files as one device in this process."""
    spare = tmp_path / "spare"
    data = mixed_suite(image_folder)
    data["solvers"].append({"name": "tests.solvers_for_tests:KillsItsWorker", "label": "kill",
                            "params": {"victim": "b", "spare": str(spare), "spare_pid": os.getpid()}})
    suite = parse_suite(data)
    two = Runner(suite, tmp_path / "two", device="cpu,cpu", workers=0, progress=False).run()
    assert spare.exists() and not two.failures
    assert len(two.devices_lost) == 1 and two.devices_lost[0].startswith("device worker ")
    assert two.devices == ["cpu", "cpu"] and all(n > 0 for n in two.device_steps), two.device_steps
    one = Runner(suite, tmp_path / "one", device="cpu", workers=0, progress=False).run()
    assert not one.failures and not one.devices_lost
    assert two.outputs_computed == one.outputs_computed == 24
    same_results(tmp_path / "one", tmp_path / "two", ("bitstreams", "outputs", "lowres"))
    counts = json.loads(rows(tmp_path / "two", "SELECT counts_json FROM runs")[0][0])
    assert counts["devices"] == ["cpu", "cpu"] and len(counts["devices_lost"]) == 1


@pytest.mark.parametrize("spec, message", [
    ("cpu,", "an empty entry"),
    ("cpu,,cpu", "an empty entry"),
    ("cpu,gpu0", "'gpu0' is not a device of a list"),
    ("auto,cpu", "'auto' is not a device of a list"),
    ("cuda,cuda:1", "'cuda' is not a device of a list"),
    ("cuda:0,cuda:x", "'cuda:x' is not a device of a list"),
    ("cuda:0,cuda:0", "cuda:0 listed twice"),
])
def test_malformed_device_lists_are_config_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_devices(spec)


def test_device_lists_parse():
    assert parse_devices("cuda:0, cuda:1") == ["cuda:0", "cuda:1"]
    assert parse_devices("cpu,cpu") == ["cpu", "cpu"]
    assert parse_devices("auto") == ["auto"]


def test_device_options_are_usage_errors_on_the_command_line(image_folder, tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(basic_suite(image_folder)))
    base = ["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]
    for extra, message in [(["--device", "cpu,"], "an empty entry"),
                           (["--device-actors", "2"], "need --executor ray"),
                           (["--gpus-per-actor", "0.5"], "need --executor ray"),
                           (["--device-actors", "0", "--executor", "ray"], "0 is not in the range")]:
        got = CliRunner().invoke(main, base + extra)
        assert got.exit_code == 2 and message in got.output, (extra, got.output)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("resources, device, actors, gpus, expected", [
    ({"CPU": 8, "GPU": 4}, "auto", None, None, (4, 1.0)),       # one per GPU
    ({"CPU": 8, "GPU": 4}, "auto", None, 0.5, (8, 0.5)),        # two small models per GPU
    ({"CPU": 8, "GPU": 4}, "cpu", None, None, (1, 0.0)),        # --device cpu: CPU actors
    ({"CPU": 8}, "auto", 3, None, (3, 0.0)),                    # no GPUs: CPU actors
    ({"CPU": 8, "GPU": 2}, "auto", 1, 2, (1, 2.0)),
])
def test_actor_plans(resources, device, actors, gpus, expected):
    assert plan_actors(resources, device, actors, gpus) == expected


@pytest.mark.parametrize("resources, actors, gpus, message", [
    ({"CPU": 8, "GPU": 2}, 3, None, "needs 3 GPUs; the cluster has 2"),
    ({"CPU": 8}, None, 1, "the Ray cluster has no GPUs"),
    ({"CPU": 2}, 3, 0, "take one CPU each; the cluster has 2"),
    ({"CPU": 8, "GPU": 4}, None, 1.5, "whole number"),
])
def test_impossible_actor_plans_are_config_errors(resources, actors, gpus, message):
    with pytest.raises(ConfigError, match=message):
        plan_actors(resources, "auto", actors, gpus)
