import subprocess
import sys

import pytest

from qbench.errors import SuiteError
from qbench.runner.resolve import resolve_suite
from qbench.suite import load_suite, parse_suite

from .conftest import REPO, basic_suite


def test_quickstart_suite_validates_and_hash_is_stable():
    s1 = load_suite(REPO / "suites" / "quickstart.yaml")
    resolve_suite(s1)
    s2 = load_suite(REPO / "suites" / "quickstart.yaml")
    assert s1.hash() == s2.hash() and len(s1.hash()) == 16


def test_hash_ignores_output_dir_but_not_ladder(image_folder):
    base = basic_suite(image_folder)
    h = parse_suite(base).hash()
    assert parse_suite({**base, "output": {"dir": "elsewhere", "bootstrap": 200}}).hash() == h
    other = {**base, "codecs": [{"name": "jpeg", "qualities": [10, 60]}]}
    assert parse_suite(other).hash() != h


def test_misspelled_key_names_file_path_and_suggestion(image_folder, write_suite):
    data = basic_suite(image_folder)
    data["codecs"] = [{"name": "jpeg", "qualitys": [10]}]
    path = write_suite(data)
    with pytest.raises(SuiteError) as exc:
        load_suite(path)
    msg = str(exc.value)
    assert str(path) in msg
    assert "codecs[0].qualitys" in msg
    assert "did you mean 'qualities'" in msg


def test_top_level_typo_and_missing_key(image_folder):
    data = basic_suite(image_folder)
    data["metric"] = data.pop("metrics")
    with pytest.raises(SuiteError) as exc:
        parse_suite(data, "x.yaml")
    msg = str(exc.value)
    assert "metric: unknown key; did you mean 'metrics'" in msg
    assert "metrics: required key is missing" in msg


def test_unknown_component_names_resolved_with_suggestions(image_folder):
    data = basic_suite(image_folder, solvers=["identty"], metrics=["psnr_yy"])
    suite = parse_suite(data, "s.yaml")
    with pytest.raises(SuiteError) as exc:
        resolve_suite(suite, "s.yaml")
    msg = str(exc.value)
    assert "solvers[0].name" in msg and "did you mean 'identity'" in msg
    assert "metrics[0].name" in msg and "psnr_y" in msg


def test_bad_codec_parameter_and_quality(image_folder):
    data = basic_suite(image_folder, codecs=[{"name": "jpeg", "params": {"subsampling": "4:1:1"},
                                              "qualities": [10, 101]}])
    with pytest.raises(SuiteError, match=r"codecs\[0\].*subsampling"):
        resolve_suite(parse_suite(data), "s.yaml")


def test_invalid_yaml_reports_line(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\ndatasets: [a\n")
    with pytest.raises(SuiteError, match="line"):
        load_suite(p)


def test_duplicate_labels_and_anchor_checked(image_folder):
    data = basic_suite(image_folder, solvers=["identity", "identity"])
    with pytest.raises(SuiteError, match="duplicate solvers"):
        parse_suite(data)
    with pytest.raises(SuiteError, match="anchor"):
        parse_suite(basic_suite(image_folder, anchor="webp"))


def test_cli_validate_error_is_one_clean_message(image_folder, write_suite):
    data = basic_suite(image_folder)
    data["solvers"] = [{"nmae": "identity"}]
    path = write_suite(data)
    proc = subprocess.run([sys.executable, "-m", "qbench.cli", "validate", str(path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and "solvers[0].nmae" in proc.stderr and "'name'" in proc.stderr
