"""The Ray executor gives the same store, cache and failures as the local process pool."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from qbench.codecs.jpeg import PillowJPEG
from qbench.errors import ConfigError
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import REPO, basic_suite
from .test_device_list import files, rows


class PickyJPEG(PillowJPEG):
    """JPEG that refuses odd widths: a failure raised inside a worker's code stage. Named unlike
    its import string: workers rebuild it from the suite's name for it."""

    name = "picky_jpeg"

    def encode(self, img, quality):
        if img.shape[1] % 2:
            raise ValueError(f"odd width {img.shape[1]}")
        return super().encode(img, quality)


def raises_value_error(job):
    raise ValueError(f"bad job {job}")


def returns_readonly(job):
    from qbench.runner.stages import StageResult

    return StageResult(decoded=np.full((600, 600, 3), job, np.uint8))


@pytest.fixture(scope="module")
def ray_cluster():
    """A 2-CPU local cluster for the module; its workers import ``tests.*`` whatever the cwd."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([old] if old else []))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    yield
    ray.shutdown()


def run_both(data: dict, tmp_path: Path) -> dict[str, tuple]:
    """Run ``data`` with the local pool and with Ray into two folders: {kind: (out dir, result)}."""
    suite = parse_suite(data)
    runs = {}
    for kind in ("local", "ray"):
        out = tmp_path / kind
        runs[kind] = (out, Runner(suite, out, workers=2, progress=False, executor=kind).run())
    return runs


def test_ray_results_are_byte_identical_to_local(ray_cluster, image_folder, tmp_path):
    data = basic_suite(image_folder, solvers=["identity", "tests.solvers_for_tests:Brighten"])
    runs = run_both(data, tmp_path)
    (local, res_local), (remote, res_ray) = runs["local"], runs["ray"]
    assert not res_local.failures and not res_ray.failures
    assert res_ray.encodings_computed == res_local.encodings_computed == 8
    assert res_ray.outputs_computed == res_local.outputs_computed == 8

    bits_local, bits_ray = files(local / "cache" / "bitstreams"), files(remote / "cache" / "bitstreams")
    assert len(bits_local) == 8 and bits_ray == bits_local
    outs_local, outs_ray = files(local / "cache" / "outputs"), files(remote / "cache" / "outputs")
    assert len(outs_local) == 8 and all(k.endswith(".png") for k in outs_local) and outs_ray == outs_local

    values = 'SELECT key, role, metric, version, value FROM "values"'
    assert len(rows(local, values)) == 8 * 3 * 2 and rows(remote, values) == rows(local, values)
    encodings = "SELECT enc_key, nbytes, pixels, bpp FROM encodings"
    assert rows(remote, encodings) == rows(local, encodings)
    executors = "SELECT json_extract(env_json, '$.executor') FROM runs"
    assert rows(remote, executors) == [("ray",)] and rows(local, executors) == [("local",)]


def test_ray_records_failures_like_local(ray_cluster, image_folder, tmp_path):
    (image_folder / "zz_broken.png").write_bytes(b"not an image at all")
    data = basic_suite(image_folder, codecs=[{"name": "tests.test_executor_ray:PickyJPEG", "label": "jpeg",
                                              "qualities": [10, 50]}],
                       solvers=["identity", {"name": "tests.solvers_for_tests:MakesNaN", "label": "nan"}])
    runs = run_both(data, tmp_path)
    (local, res_local), (remote, res_ray) = runs["local"], runs["ray"]
    # the first line of the error is the message: the original exception type, not RayTaskError
    failures = "SELECT key, stage, detail, substr(error, 1, instr(error || char(10), char(10)) - 1) FROM failures"
    got = rows(remote, failures)
    assert got == rows(local, failures)
    stages = [f[1] for f in got]
    assert stages.count("read") == 1 and stages.count("encode") == 4 and stages.count("solve") == 6
    assert all(f[3] == "ValueError: odd width 101" for f in got if f[1] == "encode")
    assert sorted(res_ray.failures) == sorted(res_local.failures)
    values = 'SELECT key, role, metric, version, value FROM "values"'
    assert rows(remote, values) == rows(local, values) and rows(local, values)


def test_exceptions_arrive_unwrapped_and_arrays_writable(ray_cluster):
    from qbench.runner.ray_executor import RayExecutor, RemoteTraceback

    ex = RayExecutor(workers=2)
    try:
        assert ex.workers == 2 and not ex._started
        bad, good = ex.submit(raises_value_error, 7), ex.submit(returns_readonly, 3)
        pending, done = {bad, good}, set()
        while pending:
            ready = ex.wait(pending, timeout=30)
            assert ready and ready <= pending
            pending -= ready
            done |= ready
        with pytest.raises(ValueError, match="^bad job 7$") as info:
            ex.result(bad)
        assert type(info.value) is ValueError and isinstance(info.value.__cause__, RemoteTraceback)
        assert "raises_value_error" in str(info.value.__cause__)
        out = ex.result(good).decoded
        assert out.flags.writeable and out.shape == (600, 600, 3) and int(out[0, 0, 0]) == 3
        assert ex.wait([], timeout=0) == set()
    finally:
        ex.close()
    assert ray.is_initialized()       # not ours to shut down


def test_missing_ray_is_a_config_error(monkeypatch):
    from qbench.runner.executor import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ConfigError, match=r"pip install 'qbench\[ray\]'"):
        make_executor("ray", 2)


def test_ray_stores_the_same_triplet_diagnostics_as_local(ray_cluster, image_folder, tmp_path):
    """Diagnostics travel with the measure jobs to Ray tasks: values and example maps equal local."""
    data = basic_suite(image_folder, solvers=["identity", "tests.solvers_for_tests:Brighten"])
    data["diagnostics"] = {"per_image": [{"name": "residual", "params": {"examples": 1}}, "region_defocus"]}
    runs = run_both(data, tmp_path)
    (local, res_local), (remote, res_ray) = runs["local"], runs["ray"]
    assert not res_local.failures and not res_ray.failures
    values = "SELECT key, role, metric, version, value FROM \"values\" WHERE metric LIKE 're%'"
    got = rows(local, values)
    assert any(r[2] == "residual/ratio" for r in got) and any(r[2].startswith("region_defocus/") for r in got)
    assert rows(remote, values) == got
    maps = "SELECT key, role, path FROM artefacts WHERE role LIKE 'residual:%'"
    local_maps, remote_maps = rows(local, maps), rows(remote, maps)
    assert local_maps and [r[:2] for r in remote_maps] == [r[:2] for r in local_maps]
    assert [Path(r[2]).read_bytes() for r in remote_maps] == [Path(r[2]).read_bytes() for r in local_maps]
