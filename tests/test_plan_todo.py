"""Resume on the plan alone: a store holding some values and cache files -> the to-do lists
exactly what is missing (no executor, no device, no codec run)."""

from qbench.cachefile import OK, check, write_bytes
from qbench.pipelines import COMPRESSED, ENHANCED
from qbench.runner.plan import plan_todo
from qbench.store import ArtefactRow, EncodingRow, Store, ValueRow
from qbench.suite import parse_suite

from .conftest import basic_suite, plan_suite


def cache_ok(path, expected):
    return check(path, expected) == OK


def setup(image_folder, tmp_path, **over):
    suite = parse_suite(basic_suite(image_folder, solvers=["identity", "gaussian"], metrics=["psnr_rgb", "psnr_y"],
                                    **over))
    store = Store(tmp_path / "results.sqlite")
    run_id = store.start_run(suite.name, suite.hash(), suite.model_dump(mode="json"), {})
    comps, pipes, samples = plan_suite(suite, store)
    return comps, store, run_id, pipes, samples


def values(comps, key, role):
    return [ValueRow(key, role, m.key, m.version, 1.0) for m in comps.metrics]


def test_an_empty_store_plans_every_sample_with_every_metric(image_folder, tmp_path):
    comps, store, _, pipes, samples = setup(image_folder, tmp_path)
    todo = plan_todo(samples, pipes, comps.metrics, comps.diagnostics, store, cache_ok)
    assert todo.samples == samples and todo.done_before == 0 and todo.originals == []
    assert len(todo.groups) == len({s.enc_key for s in samples}) == 8        # 4 images x 2 qualities
    keys = {m.key for m in comps.metrics}
    for g in todo.groups:
        assert g.code and g.cached is None and {r.key for r in g.metrics} == keys
        assert [s.solver for s in g.passthrough] == ["identity"] and not g.finished and not g.measure
        assert [w.sample.solver for w in g.solve] == ["gaussian"]
        assert {r.key for r in g.solve[0].metrics} == keys and g.solve[0].output is None


def test_stored_values_and_verified_files_leave_exactly_the_missing_work(image_folder, tmp_path):
    comps, store, run_id, pipes, samples = setup(image_folder, tmp_path)
    psnr_rgb = next(m for m in comps.metrics if m.key == "psnr_rgb")
    ident = [s for s in samples if s.solver == "identity"]
    gauss = [s for s in samples if s.solver == "gaussian"]
    for s in ident:                                   # every compressed image measured
        store.put_values(values(comps, s.enc_key, COMPRESSED), run_id)
    done, partial, damaged, gone = gauss[0], gauss[1], gauss[2], gauss[3]
    for s in (done, damaged):                         # values stored, output stored
        store.put_values(values(comps, s.out_key, ENHANCED), run_id)
    store.put_values([v for v in values(comps, partial.out_key, ENHANCED) if v.metric == "psnr_rgb"], run_id)
    for s in (done, partial, damaged):
        path = tmp_path / "cache" / f"{s.out_key}.png"
        sha = write_bytes(b"output", path)
        store.put_artefact(ArtefactRow(s.out_key, ENHANCED, str(path), 0.1, {}, sha), run_id)
    (tmp_path / "cache" / f"{damaged.out_key}.png").write_bytes(b"changed")
    store.put_artefact(ArtefactRow(gone.out_key, ENHANCED, str(tmp_path / "absent.png"), 0.1, {}, "0" * 64), run_id)
    bits = tmp_path / "cache" / "bits.bin"
    sha = write_bytes(b"bits", bits)
    store.put_encoding(EncodingRow(done.enc_key, done.image.pixel_hash, "jpeg", 10, 4, 1, 1.0, {}, str(bits), None,
                                   0.0, sha), run_id)

    todo = plan_todo(samples, pipes, comps.metrics, comps.diagnostics, store, cache_ok)
    assert todo.done_before == len(ident) + 2         # identity samples, and `done` and `damaged` (values stored)
    assert set(todo.samples) == set(gauss) - {done, damaged}
    by_key = {g.enc_key: g for g in todo.groups}
    g = by_key[partial.enc_key]
    assert not g.code and [w.sample for w in g.measure] == [partial] and g.finished == []
    assert g.measure[0].output and [r.key for r in g.measure[0].metrics] == ["psnr_y"]
    assert psnr_rgb.key not in {r.key for r in g.measure[0].metrics}
    g = by_key[gone.enc_key]                          # recorded output missing on disk: solved again
    assert g.code and [w.sample for w in g.solve] == [gone] and g.metrics == () and g.cached is None


def test_set_metrics_need_the_outputs_and_bitstreams_on_disk(image_folder, tmp_path):
    comps, store, run_id, pipes, samples = setup(image_folder, tmp_path)
    for s in samples:
        store.put_values(values(comps, s.enc_key, COMPRESSED) + values(comps, s.out_key, s.out_role), run_id)
    assert plan_todo(samples, pipes, comps.metrics, comps.diagnostics, store, cache_ok).samples == []
    s = next(s for s in samples if s.solver == "identity")
    bits = tmp_path / "bits.bin"
    sha = write_bytes(b"bits", bits)
    store.put_encoding(EncodingRow(s.enc_key, s.image.pixel_hash, "jpeg", 10, 4, 1, 1.0, {}, str(bits), None, 0.0,
                                   sha), run_id)
    todo = plan_todo(samples, pipes, comps.metrics, comps.diagnostics, store, cache_ok, need_outputs=True)
    assert s not in todo.samples and len(todo.samples) == len(samples) - 1
    g = next(g for g in todo.groups if g.enc_key == s.enc_key)
    assert [w.sample.solver for w in g.solve] == ["gaussian"] and g.passthrough == [] and g.metrics == ()
    assert g.code and g.cached is not None and g.cached.bytes_path == str(bits)
