"""CompressAI zoo codecs: pins and architectures match the installed zoo, test-made weights of the
zoo architecture load (old key names included), the byte stream round-trips deterministically,
bad inputs/files/bitstreams are clear errors, and a suite runs the codec end to end."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import math
import sqlite3
import sys

import pytest
import qbench_baselines.compressai_codecs as cc
import torch

from qbench.errors import CodecError, ConfigError, SolverError, WeightsError
from qbench.runner import Runner
from qbench.suite import parse_suite
from qbench.weights import local_path, sha256_file

from .conftest import save, smooth_image

needs_compressai = pytest.mark.skipif(importlib.util.find_spec("compressai") is None,
                                      reason="CompressAI is not installed (optional extra)")
FACTORIZED = "qbench_baselines.compressai_codecs:Bmshj2018Factorized"
_MADE: dict[int, bytes] = {}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def zoo_style_file(quality: int) -> bytes:
    """A randomly initialised bmshj2018-factorized network of the zoo's size for ``quality``, saved
    as the zoo's files are: CDF buffers present, entropy-bottleneck parameters under their old
    ParameterList names (``_biases.0``...), which CompressAI's ``load_pretrained`` renames."""
    n_m = cc._ZOO_CFGS["bmshj2018-factorized"][quality - 1]
    if n_m not in _MADE:
        from compressai.models import FactorizedPrior

        torch.manual_seed(0)
        net = FactorizedPrior(*n_m)
        net.update(force=True)
        old = {}
        for key, value in net.state_dict().items():
            for stem in ("biases", "matrices", "factors"):      # today's names: matrices.0 ...
                if key.startswith(f"entropy_bottleneck.{stem}."):
                    key = key.replace(f".{stem}.", f"._{stem}.")
            old[key] = value
        assert any("_matrices." in k for k in old)
        buf = io.BytesIO()
        torch.save(old, buf)
        _MADE[n_m] = buf.getvalue()
    return _MADE[n_m]


def place(monkeypatch, cls, qualities=(1,)):
    """Write test-made weights where the cache expects the zoo files of ``qualities`` and re-pin
    them to the files' own sha256 prefixes (the release prefixes cannot match)."""
    pins = list(cls.card.weights)
    for q in qualities:
        wf = pins[q - 1]
        path = local_path(wf)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(zoo_style_file(q))
        pins[q - 1] = dataclasses.replace(wf, sha256_prefix=sha256_file(path)[:8])
    monkeypatch.setattr(cls, "card", dataclasses.replace(cls.card, weights=tuple(pins)))
    return [local_path(pins[q - 1]) for q in qualities]


def image(h=70, w=90, seed=1):
    from qbench.images import to_tensor

    return to_tensor(smooth_image(seed, h, w), "cpu")


@needs_compressai
def test_zoo_tables_match_the_installed_compressai():
    import compressai.zoo.image as zoo

    names = set()
    for cls in cc.CODECS:
        assert cls.qualities == (1, 2, 3, 4, 5, 6) and cls.card.task == "codec" and cls.card.channels == ("rgb",)
        names.add(cls.card.name)
        for q, wf in zip(cls.qualities, cls.card.weights):
            assert wf.url == zoo.model_urls[cls.arch]["mse"][q]
            assert wf.url.endswith(wf.filename) and wf.url.rsplit("-", 1)[1].startswith(wf.sha256_prefix)
            assert len(wf.sha256_prefix) == 8 and wf.sha256 is None and wf.subdir == "solvers/compressai"
            assert tuple(zoo.cfgs[cls.arch][q]) == cc._ZOO_CFGS[cls.arch][q - 1]
            assert zoo.model_architectures[cls.arch].__name__ == cls.model_class
    assert names == {"bmshj2018_factorized", "bmshj2018_hyperprior", "mbt2018_mean", "mbt2018", "cheng2020_anchor"}


@needs_compressai
def test_offline_without_weights_says_which_file_goes_where():
    """Each quality fails naming its own file (not the first quality's, from setup)."""
    codec = cc.Bmshj2018Factorized()
    codec.setup("cpu")                       # nothing present: no quality is loaded yet
    for q in (1, 3, 6):
        wf = codec.card.weights[q - 1]
        with pytest.raises(WeightsError, match=f"{wf.filename}.*solvers/compressai.*{wf.url}"):
            codec.network(q)


def test_missing_compressai_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "compressai", None)
    with pytest.raises(SolverError, match="needs CompressAI: pip install --no-deps compressai"):
        cc.Bmshj2018Factorized().setup("cpu")


@needs_compressai
def test_round_trip_is_real_deterministic_and_lossless_in_the_latent(monkeypatch):
    place(monkeypatch, cc.Bmshj2018Factorized)
    codec = cc.Bmshj2018Factorized()
    codec.setup("cpu")
    assert len(codec.modules()) == 1 and not codec.modules()[0].training
    assert codec.weights_sha256()[0] == f"sha256-prefix:{codec.card.weights[0].sha256_prefix}"
    import compressai

    assert codec.spec()["compressai"] == compressai.__version__ and len(codec.spec()["weights"]) == 6
    x = image(70, 90)
    data = codec.encode(x, 1)
    assert isinstance(data, bytes) and data == codec.encode(x, 1)
    bpp = 8 * len(data) / (70 * 90)
    assert 0 < bpp < 64 and math.isfinite(bpp)
    y = codec.decode(data, 1)
    assert y.shape == x.shape and bool(torch.isfinite(y).all()) and 0 <= float(y.min()) <= float(y.max()) <= 1
    assert torch.equal(y, codec.decode(data, 1))
    other = cc.Bmshj2018Factorized()               # a decoder that never saw the image
    other.setup("cpu")
    assert torch.equal(y, other.decode(data, 1))
    # the rANS coder is lossless: decoding gives g_s of the encoder's own quantised latent
    net = codec.network(1)
    (left, right, top, bottom), unpad = cc._padding(70, 90)
    assert (left + right + 90) % 64 == 0 and (top + bottom + 70) % 64 == 0
    with torch.inference_mode():
        latent = net.g_a(torch.nn.functional.pad(x, (left, right, top, bottom)))
        eb = net.entropy_bottleneck
        ref = net.g_s(eb.quantize(latent, "dequantize", eb._get_medians())).clamp(0, 1)
    assert torch.equal(y, torch.nn.functional.pad(ref, unpad))
    # the header holds the size and the latent shape; strings are length-prefixed
    h, w, shape, strings = cc.unpack(data)
    assert (h, w, shape, len(strings)) == (70, 90, (8, 8), 1)
    assert cc.pack(h, w, shape, strings) == data


@needs_compressai
@pytest.mark.parametrize("cls", cc.CODECS, ids=lambda c: c.card.name)
def test_every_zoo_architecture_round_trips(cls, monkeypatch):
    """Quality 1 of each model (the zoo's N, M; random init, today's key names) codes an odd-sized
    image to bytes and back, identically on a second decoder."""
    import compressai.models

    torch.manual_seed(0)
    blob = io.BytesIO()
    torch.save(getattr(compressai.models, cls.model_class)(*cc._ZOO_CFGS[cls.arch][0]).state_dict(), blob)
    wf = cls.card.weights[0]
    path = local_path(wf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob.getvalue())
    pins = (dataclasses.replace(wf, sha256_prefix=sha256_file(path)[:8]),) + cls.card.weights[1:]
    monkeypatch.setattr(cls, "card", dataclasses.replace(cls.card, weights=pins))
    codec, other = cls(), cls()
    codec.setup("cpu")
    other.setup("cpu")
    x = image(37, 70, seed=5)
    data = codec.encode(x, 1)
    assert len(cc.unpack(data)[3]) == (1 if cls is cc.Bmshj2018Factorized else 2)
    y = codec.decode(data, 1)
    assert y.shape == x.shape and torch.equal(y, other.decode(data, 1))


@needs_compressai
def test_bad_inputs_and_bitstreams_are_clear_errors(monkeypatch):
    place(monkeypatch, cc.Bmshj2018Factorized)
    codec = cc.Bmshj2018Factorized()
    codec.setup("cpu")
    with pytest.raises(SolverError, match="RGB images only"):
        codec.encode(torch.rand(1, 1, 32, 32), 1)
    with pytest.raises(ConfigError, match="quality 7"):
        codec.encode(torch.rand(1, 3, 32, 32), 7)
    with pytest.raises(WeightsError, match="bmshj2018-factorized-prior-2-87279a02.pth.tar"):
        codec.encode(torch.rand(1, 3, 32, 32), 2)  # another quality's file is absent
    data = codec.encode(torch.rand(1, 3, 40, 40), 1)
    for bad in (data[:5], data[:-1], data + b"\0"):
        with pytest.raises(CodecError):
            codec.decode(bad, 1)
    with pytest.raises(CodecError, match="latent shape"):
        codec.decode(cc.pack(200, 40, (3, 3), cc.unpack(data)[3]), 1)


@needs_compressai
def test_tampered_weight_file_fails_its_pin(monkeypatch):
    (path,) = place(monkeypatch, cc.Bmshj2018Factorized)
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    path.write_bytes(bytes(blob))
    with pytest.raises(WeightsError, match="sha256"):
        cc.Bmshj2018Factorized().setup("cpu")


@needs_compressai
def test_release_pin_rejects_a_foreign_file():
    wf = cc.Bmshj2018Factorized.card.weights[0]
    path = local_path(wf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(zoo_style_file(1))
    with pytest.raises(WeightsError, match=f"expected {wf.sha256_prefix}"):
        cc.Bmshj2018Factorized().setup("cpu")


@needs_compressai
def test_suite_runs_the_codec_end_to_end(monkeypatch, tmp_path):
    # q1 for the suite, q4 for the cost probe (the middle of the ladder; same N, M)
    place(monkeypatch, cc.Bmshj2018Factorized, qualities=(1, 4))
    folder = tmp_path / "rgb"
    for i in range(2):
        save(smooth_image(10 + i, 48 + 7 * i, 64 - 5 * i), folder / f"{i}.png")
    data = {"name": "cai", "datasets": [{"name": "folder", "params": {"path": str(folder)}}],
            "codecs": [{"name": FACTORIZED, "label": "bmshj", "qualities": [1]}],
            "solvers": ["identity"], "metrics": ["psnr_rgb"]}
    out = tmp_path / "out"
    res = Runner(parse_suite(data), out, workers=0, progress=False).run()
    assert not res.failures and res.samples == 2
    with sqlite3.connect(out / "results.sqlite") as db:
        rows = db.execute("SELECT e.nbytes, e.pixels, e.bpp FROM plan p JOIN encodings e "
                          "ON p.enc_key = e.enc_key").fetchall()
        assert len(rows) == 2 and all(n > 0 and b == pytest.approx(8 * n / px) for n, px, b in rows)
        psnr = [v for (v,) in db.execute('SELECT value FROM "values" WHERE metric = ?', ("psnr_rgb",))]
        assert len(psnr) >= 2 and all(math.isfinite(v) for v in psnr)
        assert ("bmshj", "codec") in set(db.execute("SELECT label, kind FROM costs").fetchall())


@needs_compressai
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_round_trip_on_cuda(monkeypatch):
    place(monkeypatch, cc.Bmshj2018Factorized)
    codec = cc.Bmshj2018Factorized()
    codec.setup("cuda")
    x = image(70, 90).to("cuda")
    data = codec.encode(x, 1)
    y = codec.decode(data, 1)
    assert y.device.type == "cuda" and y.shape == x.shape and torch.equal(y, codec.decode(data, 1))


def test_no_missing_weight_warning_for_a_codec_given_its_own_checkpoints(tmp_path):
    """Checkpoints given by path replace the release files: their absence is no reason to warn."""
    from qbench.runner.resolve import _note_missing_weights
    from qbench import solvers

    ckpt = tmp_path / "q1.pth"
    ckpt.write_bytes(b"x")
    notes: dict[str, str] = {}
    codec = solvers.resolve("bmshj2018_factorized")(checkpoint=str(ckpt))
    _note_missing_weights(codec, "codecs[0]", notes, [1])
    assert notes == {}
    _note_missing_weights(solvers.resolve("bmshj2018_factorized")(), "codecs[0]", notes, [1])
    assert "codecs[0]" in notes                      # the release file of quality 1 is still noted
