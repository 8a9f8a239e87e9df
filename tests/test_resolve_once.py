"""Build once: validation returns the components and datasets the run uses."""

import hashlib
import json

from qbench.codecs import build as build_codec
from qbench.runner import Runner
from qbench.runner.resolve import resolve, resolve_file
from qbench.suite import parse_suite

from .conftest import basic_suite


def test_validation_builds_the_datasets_under_the_run_data_root(tmp_path, write_suite):
    data = basic_suite(tmp_path, datasets=[{"name": "kodak"}])
    resolved = resolve_file(write_suite(data), str(tmp_path / "data"))
    assert [label for label, _ in resolved.datasets] == ["kodak"]
    assert resolved.datasets[0][1].source_folder == tmp_path / "data" / "kodak"
    assert resolve(parse_suite(data), data_root=str(tmp_path / "elsewhere")).datasets[0][1].source_folder == \
        tmp_path / "elsewhere" / "kodak"


def test_the_runner_runs_the_components_it_is_given(image_folder, tmp_path):
    resolved = resolve(parse_suite(basic_suite(image_folder, metrics=["psnr_y"])))
    metric = resolved.components.metrics[0]
    codec = resolved.components.codecs[0].codec
    metric.device = "not set up"
    res = Runner(resolved, tmp_path / "out", workers=0, progress=False, device="cpu").run()
    assert not res.failures and res.samples == 8
    assert metric.device == "cpu"               # the run set up the very instance validation built
    assert resolved.components.codecs[0].codec is codec


def test_codec_spec_hash_and_device_bound_are_base_class_members():
    jpeg = build_codec("jpeg", {})
    blob = json.dumps(jpeg.spec(), sort_keys=True, default=str).encode()
    assert jpeg.spec_hash() == hashlib.sha256(blob).hexdigest()[:16]
    assert type(jpeg).device_bound is False and "device_bound" not in vars(type(jpeg))
