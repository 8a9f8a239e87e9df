"""Device actors on a local Ray cluster that declares two GPUs it does not have (actors run on the
CPU): same store and files as the local executor, a killed actor's steps go to the other, a run
with every actor gone stops and resumes, and a killed driver's run resumes."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import yaml

ray = pytest.importorskip("ray")

from click.testing import CliRunner

from qbench.cli import main
from qbench.runner import Runner
from qbench.suite import parse_suite

from .conftest import REPO, basic_suite, save, smooth_image
from .test_device_list import mixed_suite, rows, same_results


@pytest.fixture(scope="module")
def cluster():
    """2 CPUs and 2 declared GPUs for the module; workers import ``tests.*`` whatever the cwd."""
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([old] if old else []))
    try:
        ctx = ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=False)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    yield ctx.address_info["gcs_address"]
    ray.shutdown()


def gpus_free(expected: float = 2.0, wait: float = 15.0) -> bool:
    """Whether the declared GPUs are all free again (every actor gone) within ``wait`` seconds."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        if ray.available_resources().get("GPU", 0) == expected:
            return True
        time.sleep(0.2)
    return False


def test_device_actors_match_the_local_executor(cluster, image_folder, tmp_path):
    suite = parse_suite(mixed_suite(image_folder))
    local = Runner(suite, tmp_path / "local", workers=0, progress=False).run()
    remote = Runner(suite, tmp_path / "ray", workers=2, progress=False, executor="ray").run()
    assert not local.failures and not remote.failures
    assert remote.devices == ["cpu", "cpu"]            # one actor per declared GPU, on the CPU
    assert all(n > 0 for n in remote.device_steps), remote.device_steps
    assert remote.outputs_computed == local.outputs_computed == 4 * 2 * 2     # resc and noisy, 2 codecs
    same_results(tmp_path / "local", tmp_path / "ray", ("bitstreams", "outputs", "lowres"))
    costs = "SELECT label, kind, spec_hash, device FROM costs"      # probed in the actors, stored here
    assert len(rows(tmp_path / "ray", costs)) == 3 and rows(tmp_path / "ray", costs) == rows(tmp_path / "local", costs)
    summary = rows(tmp_path / "ray", "SELECT counts_json FROM runs")[0][0]
    assert json.loads(summary)["devices"] == ["cpu", "cpu"]
    assert gpus_free()


def test_a_killed_actor_s_steps_run_on_the_other(cluster, image_folder, tmp_path):
    spare = tmp_path / "spare"
    killer = {"name": "tests.solvers_for_tests:KillsItsWorker", "label": "kill",
              "params": {"victim": "b", "spare": str(spare), "spare_pid": os.getpid()}}
    suite = parse_suite(basic_suite(image_folder, solvers=["identity", killer], metrics=["psnr_rgb"]))
    remote = Runner(suite, tmp_path / "ray", workers=2, progress=False, executor="ray").run()
    assert spare.exists()                                  # the actor was killed once
    assert not remote.failures and remote.outputs_computed == 8
    assert len(remote.devices_lost) == 1 and "device actor" in remote.devices_lost[0]
    summary = json.loads(rows(tmp_path / "ray", "SELECT counts_json FROM runs")[0][0])
    assert len(summary["devices_lost"]) == 1
    local = Runner(suite, tmp_path / "local", workers=0, progress=False).run()
    assert not local.failures and not local.devices_lost
    same_results(tmp_path / "local", tmp_path / "ray")
    assert gpus_free()


def test_every_actor_gone_stops_the_run_and_a_rerun_resumes(cluster, image_folder, tmp_path):
    spare = tmp_path / "spare"
    data = basic_suite(image_folder, metrics=["psnr_rgb"], solvers=[
        "identity", {"name": "tests.solvers_for_tests:KillsItsWorker", "label": "kill",
                     "params": {"victim": "b", "spare": str(spare), "spare_pid": os.getpid(), "once": False}}])
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--executor", "ray", "--workers", "2", "--quiet"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 4, first.output
    errors = [line for line in first.output.splitlines() if line.startswith("qbench: error:")]
    assert len(errors) == 1 and "every device worker is gone (2 started, 2 died)" in errors[0]
    assert rows(tmp_path / "out", "SELECT status FROM runs") == [("failed",)]
    assert gpus_free()
    stored = rows(tmp_path / "out", "SELECT COUNT(*) FROM artefacts WHERE role = 'enhanced'")[0][0]
    spare.touch()                                          # the solver stops killing: the rerun completes
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert f"{8 - stored} solver outputs" in second.output
    assert rows(tmp_path / "out", "SELECT COUNT(*) FROM artefacts WHERE role = 'enhanced'")[0][0] == 8
    assert gpus_free()


def test_a_killed_driver_s_run_resumes(cluster, image_folder, tmp_path):
    """SIGKILL a run (a subprocess joined to this cluster) part-way: its actors go with it, and a
    rerun computes only what the store lacks."""
    for i in range(4):           # 8 images: 16 slow outputs
        save(smooth_image(10 + i, 48, 64), image_folder / f"x{i}.png")
    data = basic_suite(image_folder, metrics=["psnr_rgb"], codecs=[{"name": "jpeg", "qualities": [20, 60]}],
                       solvers=[{"name": "tests.solvers_for_tests:Slow", "label": "slow"}])
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(REPO), QBENCH_TEST_SLEEP="0.4")
    proc = subprocess.Popen([sys.executable, "-c", "from qbench.cli import main; main()", "run", str(path),
                             "--out", str(out), "--executor", "ray", "--address", cluster, "--workers", "1",
                             "--quiet"], env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stored, end, held = 0, time.monotonic() + 60, 0.0
    try:
        while time.monotonic() < end and proc.poll() is None:
            held = max(held, 2 - ray.available_resources().get("GPU", 0))   # the run's actors' GPUs
            if (out / "results.sqlite").exists():
                try:
                    stored = rows(out, "SELECT COUNT(*) FROM artefacts WHERE role = 'enhanced'")[0][0]
                except sqlite3.Error:
                    stored = 0
                if stored >= 3:
                    break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        proc.stderr.close()
    assert held == 2 and gpus_free()                       # its two actors were running, and are gone
    stored = rows(out, "SELECT COUNT(*) FROM artefacts WHERE role = 'enhanced'")[0][0]
    assert 3 <= stored < 16
    res = Runner(parse_suite(data), out, workers=2, progress=False, executor="ray").run()
    assert not res.failures and res.outputs_computed == 16 - stored
    assert rows(out, "SELECT COUNT(*) FROM artefacts WHERE role = 'enhanced'")[0][0] == 16
    assert gpus_free()


def test_actor_options_are_checked_against_the_cluster(cluster, image_folder, tmp_path):
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(basic_suite(image_folder, solvers=["identity"])))
    base = ["run", str(path), "--out", str(tmp_path / "out"), "--executor", "ray", "--quiet"]
    got = CliRunner().invoke(main, base + ["--device-actors", "3"])
    assert got.exit_code == 2 and "needs 3 GPUs; the cluster has 2" in got.output
    got = CliRunner().invoke(main, base + ["--gpus-per-actor", "1.5"])
    assert got.exit_code == 2 and "whole number" in got.output
    got = CliRunner().invoke(main, base + ["--device", "cpu,cpu"])
    assert got.exit_code == 2 and "a device list is for the local executor" in got.output
    assert not (tmp_path / "out" / "results.sqlite").exists()
