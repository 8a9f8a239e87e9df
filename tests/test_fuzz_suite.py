"""Property-based fuzzing of suite files through ``qbench validate``.

Mutations of a valid suite (dropped, renamed and retyped keys, wrong values, unicode, huge
numbers, wrong nesting, broken YAML) must end in exit 0 (still valid), 2 (bad suite) or 3 (bad
data reference), with a ``qbench: error:`` message that names the file -- never an uncaught
exception.
"""

from __future__ import annotations

import copy

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from click.testing import CliRunner  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qbench.cli import main  # noqa: E402


def valid_suite(folder: str) -> dict:
    return {
        "name": "fuzz",
        "description": "a suite to mutate",
        "datasets": [{"name": "folder", "params": {"path": folder}, "mode": "auto", "limit": 2},
                     "skimage-samples"],
        "codecs": [{"name": "jpeg", "params": {"subsampling": "4:2:0"}, "qualities": [10, 50], "label": "j"},
                   {"name": "webp", "target_bpp": [0.5]}],
        "solvers": ["identity", {"name": "gaussian", "params": {"sigma": 1.0}, "label": "g",
                                 "engine": {"batch_size": 2, "tile": 64, "overlap": 8}}],
        "metrics": ["psnr_rgb", {"name": "ssim_y", "crop_border": 4}],
        "anchor": "j",
        "diagnostics": {"set_pairs": [["original", "compressed"]]},
        "seed": 3,
        "output": {"quantize": True, "bootstrap": 10, "bd_bootstrap": 0, "keep_images": True},
    }


# values that are wrong in interesting ways for almost any key
ODD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10 ** 30), max_value=10 ** 30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["<script>", "ü©🙂\u202e", "../../etc/passwd", "{input}; rm -rf /", "1e309", "", " ",
                     "jpeg", "identity", "psnr_rgb", "folder", "4:2:0", "nan", "-0"]),
    st.lists(st.integers(min_value=-5, max_value=200), max_size=3),
    st.dictionaries(st.sampled_from(["name", "params", "x", "qualities", "path"]),
                    st.one_of(st.none(), st.integers(), st.text(max_size=4)), max_size=2),
)
KEY_NAMES = st.one_of(st.text(min_size=1, max_size=8),
                      st.sampled_from(["nam", "qualitys", "solver", "metric", "params", "label", "engine",
                                       "crop_border", "limit", "mode", "tile", "🙂", "__class__"]))


def _containers(node, path=()):
    """Every (path, dict-or-list) inside ``node``."""
    out = [(path, node)]
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                out += _containers(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                out += _containers(v, path + (i,))
    return out


@st.composite
def mutated(draw, base: dict):
    data = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        places = _containers(data)
        _, node = places[draw(st.integers(min_value=0, max_value=len(places) - 1))]
        op = draw(st.sampled_from(["drop", "rename", "retype", "add", "nest", "unnest", "dup"]))
        keys = list(node.keys()) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            continue
        k = keys[draw(st.integers(min_value=0, max_value=len(keys) - 1))]
        if op == "drop":
            del node[k]
        elif op == "rename" and isinstance(node, dict):
            node[draw(KEY_NAMES)] = node.pop(k)
        elif op == "retype":
            node[k] = draw(ODD_VALUES)
        elif op == "add" and isinstance(node, dict):
            node[draw(KEY_NAMES)] = draw(ODD_VALUES)
        elif op == "nest":
            node[k] = draw(st.sampled_from([[node[k]], {"value": node[k]}, [[node[k]]]]))
        elif op == "unnest" and isinstance(node[k], (list, dict)) and node[k]:
            inner = node[k]
            node[k] = inner[0] if isinstance(inner, list) else next(iter(inner.values()))
        elif op == "dup" and isinstance(node, list):
            node.append(copy.deepcopy(node[k]))
    return data


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    from .conftest import save, smooth_image

    root = tmp_path_factory.mktemp("fuzz")
    save(smooth_image(7, 16, 16), root / "imgs" / "a.png")
    return root


def _check(result, suite_path) -> None:
    """The outcome contract of ``qbench validate``."""
    assert result.exit_code in (0, 2, 3), (result.exit_code, result.output, result.exception)
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code:
        first = result.output.splitlines()[0]
        assert first.startswith(f"qbench: error: {suite_path}"), result.output
        # the message says where: a key path, or a line/column of the YAML, or the top level
        assert ":" in first[len(f"qbench: error: {suite_path}"):], result.output


def test_1000_mutated_suites_fail_cleanly(fuzz_dir):
    base = valid_suite(str(fuzz_dir / "imgs"))
    runner = CliRunner()
    path = fuzz_dir / "suite.yaml"
    path.write_text(yaml.safe_dump(base, allow_unicode=True))
    ok = runner.invoke(main, ["validate", str(path)])
    assert ok.exit_code == 0, ok.output          # the base is valid: mutations start from a good suite
    codes: dict[int, int] = {}

    @settings(max_examples=1000, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(mutated(base))
    def one(data):
        path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
        result = runner.invoke(main, ["validate", str(path)])
        _check(result, path)
        codes[result.exit_code] = codes.get(result.exit_code, 0) + 1

    one()
    assert codes.get(2, 0) > 100, codes            # most mutations break the suite
    assert sum(codes.values()) >= 900, codes    # 1,000 examples were drawn


@pytest.mark.parametrize("text", [
    "name: [unclosed", "{a: 1", "- just\n- a list", "name: x\nname: y\n", "!!python/object:os.system {}",
    "\x00\x01", "name: 'x'\ndatasets: &a [*a]", "1e999", "", "---\n---\n",
])
def test_broken_yaml_fails_cleanly(fuzz_dir, text):
    path = fuzz_dir / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(main, ["validate", str(path)])
    _check(result, path)
    assert result.exit_code == 2
