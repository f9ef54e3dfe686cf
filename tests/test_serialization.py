"""Safe model files (JSON + npz), pickle and joblib round trips, bad files."""

import hashlib
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    CandidateScreener,
    ContactFeatures,
    MergeCorrector,
    MergeMLP,
    MergeNet,
    load_model,
    make_pair_pipeline,
    save_model,
)
from sklearn_overseg.correction._training import _damage
from sklearn_overseg.datasets import make_tissue
from sklearn_overseg.models._serialization import FORMAT_VERSION


@pytest.fixture(scope="module")
def training():
    return [make_tissue((24, 64, 64), n_cells=20, random_state=s) for s in (0, 1)]


@pytest.fixture(scope="module")
def flawed():
    truth = make_tissue((24, 64, 64), n_cells=20, random_state=9)
    volume, _ = _damage(truth, "axis", 5, 1, 1, 3, 2, seed=9)
    return volume


@pytest.fixture(scope="module")
def net_corrector(training):
    """The default pipeline (MergeNet), with fewer epochs to stay fast."""
    corrector = MergeCorrector(damage="axis", n_rounds=2)
    corrector.set_params(classifier=make_pair_pipeline(MergeNet(max_epochs=10)))
    return corrector.fit(training)


@pytest.fixture(scope="module")
def logistic_corrector(training):
    return MergeCorrector(
        CandidateScreener(max_gap=2),
        classifier=make_pair_pipeline(LogisticRegression(max_iter=300)),
        damage="axis",
        threshold=0.4,
        n_rounds=2,
    ).fit(training)


@pytest.fixture(scope="module")
def saved(net_corrector, tmp_path_factory):
    return save_model(net_corrector, tmp_path_factory.mktemp("model") / "net.json")


def _same_behaviour(a, b, volume):
    records_a, records_b = a.predict_merges(volume), b.predict_merges(volume)
    assert [r["merged"] for r in records_a] == [r["merged"] for r in records_b]
    np.testing.assert_array_equal(
        [r["probability"] for r in records_a], [r["probability"] for r in records_b]
    )
    np.testing.assert_array_equal(a.correct(volume), b.correct(volume))


def _plain_params(estimator):
    """Nested parameters that are values or classes (not live objects)."""
    plain = (type(None), bool, int, float, str, tuple, type)
    return {
        k: v for k, v in estimator.get_params(deep=True).items() if isinstance(v, plain)
    }


def _digest(volume):
    return hashlib.sha256(np.ascontiguousarray(volume).tobytes()).hexdigest()


# -------------------------------------------------------------- round trips
@pytest.mark.parametrize("which", ["net_corrector", "logistic_corrector"])
def test_safe_format_round_trip(which, request, tmp_path, flawed):
    corrector = request.getfixturevalue(which)
    path = save_model(corrector, tmp_path / "model.json")
    assert path.suffix == ".json" and path.with_suffix(".npz").exists()
    loaded = load_model(path)
    assert type(loaded) is MergeCorrector
    assert _plain_params(loaded) == _plain_params(corrector)
    assert loaded.n_training_pairs_ == corrector.n_training_pairs_
    _same_behaviour(corrector, loaded, flawed)


def test_model_file_is_plain_json_and_arrays(saved):
    doc = json.loads(saved.read_text())
    assert doc["format"] == "sklearn_overseg-model"
    assert doc["format_version"] == FORMAT_VERSION
    with np.load(saved.with_suffix(".npz"), allow_pickle=False) as arrays:
        assert all(arrays[k].dtype != object for k in arrays.files)


def test_stem_and_npz_paths_name_the_same_model(saved, net_corrector, flawed):
    for path in (saved.with_suffix(""), saved.with_suffix(".npz"), str(saved)):
        _same_behaviour(net_corrector, load_model(path), flawed)


def test_merge_net_with_string_classes_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 4))
    y = np.where(X[:, 0] > 0, "merge", "keep")
    net = MergeNet(max_epochs=3, module__hidden=(8, 4)).fit(X, y)
    loaded = load_model(save_model(net, tmp_path / "net"))
    assert loaded.classes_.tolist() == ["keep", "merge"]
    np.testing.assert_array_equal(loaded.predict_proba(X), net.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_unfitted_estimators_round_trip(tmp_path):
    screener = CandidateScreener(max_gap=3, min_overlap=0.2, voxel_size=(2.0, 1, 1))
    loaded = load_model(save_model(screener, tmp_path / "screener.json"))
    assert loaded.get_params() == screener.get_params()
    unfitted = load_model(save_model(MergeCorrector(threshold=0.7), tmp_path / "c"))
    assert unfitted.threshold == 0.7 and not hasattr(unfitted, "classifier_")


def test_a_model_file_without_a_newer_parameter_keeps_its_behaviour(tmp_path):
    # tilted model files written before ContactFeatures(region=...) existed
    # have no value for it: they load with "whole", as they were fitted
    path = save_model(ContactFeatures(region="slab"), tmp_path / "contact.json")
    assert load_model(path).region == "slab"
    text = json.loads(path.read_text())
    del text["estimator"]["params"]["region"]
    path.write_text(json.dumps(text))
    assert load_model(path).region == "whole"


@pytest.mark.parametrize("which", ["net_corrector", "logistic_corrector"])
def test_pickle_round_trip(which, request, flawed):
    corrector = request.getfixturevalue(which)
    _same_behaviour(corrector, pickle.loads(pickle.dumps(corrector)), flawed)


def test_joblib_and_safe_format_in_a_fresh_process(
    net_corrector, saved, flawed, tmp_path
):
    joblib_path = tmp_path / "corrector.joblib"
    joblib.dump(net_corrector, joblib_path)
    _same_behaviour(net_corrector, joblib.load(joblib_path), flawed)
    volume_path = tmp_path / "flawed.npy"
    np.save(volume_path, flawed)
    script = (
        "import hashlib, sys, joblib, numpy as np\n"
        "from sklearn_overseg import load_model\n"
        "volume = np.load(sys.argv[1])\n"
        "for model in (joblib.load(sys.argv[2]), load_model(sys.argv[3])):\n"
        "    out = np.ascontiguousarray(model.correct(volume))\n"
        "    print(hashlib.sha256(out.tobytes()).hexdigest())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(volume_path), str(joblib_path), str(saved)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    expected = _digest(net_corrector.correct(flawed))
    assert result.stdout.split() == [expected, expected]


# --------------------------------------------------------------- bad files
def test_missing_files(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "nothing.json")
    (tmp_path / "half.json").write_text(saved.read_text())
    with pytest.raises(FileNotFoundError, match="half.npz"):
        load_model(tmp_path / "half.json")


def _copy(saved, tmp_path, name, *, json_text=None, npz_bytes=None):
    target = tmp_path / f"{name}.json"
    target.write_text(saved.read_text() if json_text is None else json_text)
    npz = saved.with_suffix(".npz").read_bytes() if npz_bytes is None else npz_bytes
    target.with_suffix(".npz").write_bytes(npz)
    return target


def test_corrupt_json(saved, tmp_path):
    text = saved.read_text()
    for name, bad in [
        ("cut", text[: len(text) // 2].encode()),
        ("binary", b"\xff\xfe\x00garbage"),
        ("list", b"[1, 2]"),
        ("other", json.dumps({"format": "something-else"}).encode()),
    ]:
        path = _copy(saved, tmp_path, name)
        path.write_bytes(bad)
        with pytest.raises(ValueError, match="corrupt|not a sklearn_overseg"):
            load_model(path)


def test_wrong_format_version(saved, tmp_path):
    doc = json.loads(saved.read_text())
    doc["format_version"] = FORMAT_VERSION + 1
    path = _copy(saved, tmp_path, "future", json_text=json.dumps(doc))
    with pytest.raises(ValueError, match="format version"):
        load_model(path)


def test_truncated_and_corrupt_weights(saved, tmp_path):
    data = saved.with_suffix(".npz").read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 3 : len(data) // 3 + 64] = bytes(64)
    for name, bad in [
        ("truncated", data[: len(data) // 2]),
        ("empty", b""),
        ("garbage", b"not a zip file at all"),
        ("flipped", bytes(flipped)),
    ]:
        with pytest.raises(ValueError, match="corrupt|truncated|inconsistent"):
            load_model(_copy(saved, tmp_path, name, npz_bytes=bad))


def test_weights_that_do_not_fit_the_network(saved, tmp_path):
    path = _copy(saved, tmp_path, "shapes")
    with np.load(saved.with_suffix(".npz")) as data:
        arrays = {k: data[k] for k in data.files}
    arrays = {k: v[..., :1] if v.ndim == 2 else v for k, v in arrays.items()}
    np.savez(path.with_suffix(".npz"), **arrays)
    with pytest.raises(ValueError):
        load_model(path)


def test_pickled_arrays_are_refused(saved, tmp_path):
    path = _copy(saved, tmp_path, "pickled")
    with np.load(saved.with_suffix(".npz")) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["a0"] = np.array([{"evil": 1}], dtype=object)
    np.savez(path.with_suffix(".npz"), **arrays)
    with pytest.raises(ValueError):
        load_model(path)
    assert zipfile.is_zipfile(path.with_suffix(".npz"))


@pytest.mark.parametrize(
    "node",
    [
        {"class": "os.system", "params": {}},
        {"class": "Popen", "params": {"args": "echo hi"}},
        {"__class__": "subprocess.Popen"},
    ],
)
def test_unknown_classes_are_refused(saved, tmp_path, node):
    doc = json.loads(saved.read_text())
    doc["estimator"]["params"]["screener"] = node
    path = _copy(saved, tmp_path, "unknown", json_text=json.dumps(doc))
    with pytest.raises(ValueError, match="unknown class"):
        load_model(path)


def test_unexpected_attributes_are_refused(saved, tmp_path):
    doc = json.loads(saved.read_text())
    doc["estimator"]["fitted"]["__class__"] = {"__class__": "MergeNet"}
    path = _copy(saved, tmp_path, "attribute", json_text=json.dumps(doc))
    with pytest.raises(ValueError, match="unexpected attribute"):
        load_model(path)


def test_unsupported_estimators_point_to_joblib(tmp_path):
    pipe = make_pair_pipeline(RandomForestClassifier(n_estimators=2))
    with pytest.raises(TypeError, match="joblib"):
        save_model(MergeCorrector(classifier=pipe), tmp_path / "forest.json")


def _overseg_with_model(folder, model: str):
    import subprocess
    import sys

    np.save(folder / "in.npy", np.ones((4, 8, 8), dtype=np.uint8))
    return subprocess.run(
        [sys.executable, "-m", "sklearn_overseg.cli", "correct", "in.npy", "-o",
         "out.npy", "--model", model, "-q"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ('{"name": "my-app", "version": "1.0"}', "does not say format"),  # unrelated
        ('{"format": "sklearn_overseg-model", ', "not valid JSON"),  # malformed
        ("[1, 2, 3]", "does not say format"),
    ],
)
def test_cli_names_an_unrelated_or_malformed_json(tmp_path, text, why):
    (tmp_path / "settings.json").write_text(text)  # no settings.npz beside it
    result = _overseg_with_model(tmp_path, "settings.json")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "overseg: error: settings.json is not a sklearn_overseg model file (")
    assert why in lines[0]
    assert "settings.npz" not in lines[0] and "KeyError" not in lines[0]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda doc: doc.pop("estimator"),
         "has no 'estimator' entry (the description of the trained model)"),
        (lambda doc: doc["estimator"].pop("params"),
         "the MergeCorrector entry has no 'params' entry (its settings)"),
        (lambda doc: _drop_state(doc),
         "the MergeNet entry has no 'state_dict' entry (the network weights)"),
    ],
)
def test_missing_keys_are_named_in_words(saved, tmp_path, edit, words):
    doc = json.loads(saved.read_text())
    edit(doc)
    path = _copy(saved, tmp_path, "partial", json_text=json.dumps(doc))
    with pytest.raises(ValueError, match="is incomplete") as info:
        load_model(path)
    assert words in str(info.value)
    assert "KeyError" not in str(info.value)
    result = _overseg_with_model(tmp_path, "partial.json")
    assert result.returncode == 1 and words in result.stderr, result.stderr
    assert "partial.npz" not in result.stderr


def _drop_state(doc):
    """Remove the network weights' entry from every MergeNet in a description."""
    def visit(node):
        if isinstance(node, dict):
            if node.get("class") == "MergeNet" and node.get("fitted"):
                node["fitted"].pop("state_dict")
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)
    visit(doc)


def test_a_merge_net_pickled_in_the_earlier_module_layout_still_loads():
    """The pickle was written when MergeNet and MergeMLP both lived in
    ``models/_classifier.py``; it names that module, which must still answer."""
    data = (Path(__file__).parent / "data" / "merge_net_before_split.pkl").read_bytes()
    assert b"sklearn_overseg.models._classifier" in data
    loaded = pickle.loads(data)
    assert type(loaded) is MergeNet and type(loaded.module_) is MergeMLP
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    same = MergeNet(max_epochs=3, module__hidden=(8,), random_state=0).fit(X, y)
    np.testing.assert_allclose(loaded.predict_proba(X), same.predict_proba(X),
                               rtol=1e-5, atol=1e-6)
    assert loaded.predict(X).tolist() == same.predict(X).tolist()


def test_a_corrector_pickled_before_the_corrector_split_still_loads():
    """The pickle was written when ``MergeCorrector`` held its parameters, fit
    and score in ``correction/_corrector.py`` (a LogisticRegression pair
    pipeline trained with ``damage="axis"`` in voxel size (2, 1, 1)); the npz
    holds a flawed volume and what the corrector said about it then."""
    data = (Path(__file__).parent / "data" / "merge_corrector_before_split.pkl")
    data = data.read_bytes()
    assert b"sklearn_overseg.correction._corrector" in data
    saved = np.load(Path(__file__).parent / "data" / "merge_corrector_before_split.npz")
    loaded = pickle.loads(data)
    assert type(loaded) is MergeCorrector
    flawed = saved["flawed"]
    records = loaded.predict_merges(flawed, voxel_size=(2.0, 1.0, 1.0))
    assert [[r["upper"], r["lower"]] for r in records] == saved["pairs"].tolist()
    np.testing.assert_allclose([r["probability"] for r in records],
                               saved["probabilities"], rtol=1e-6)
    corrected = loaded.correct(flawed, voxel_size=(2.0, 1.0, 1.0))
    assert corrected.dtype == saved["corrected"].dtype
    # the same merges and relabelling everywhere; the layers rebuilt in the
    # gaps may differ by a few outline pixels since the interpolation changed
    then = saved["corrected"]
    rebuilt = (flawed == 0) & ((corrected != 0) | (then != 0))
    np.testing.assert_array_equal(corrected[~rebuilt], then[~rebuilt])
    for label in np.setdiff1d(then[rebuilt], [0]):
        now_mask, then_mask = corrected == label, then == label
        overlap = (now_mask & then_mask & rebuilt).sum()
        assert overlap / ((now_mask | then_mask) & rebuilt).sum() >= 0.95
    assert not np.array_equal(corrected, flawed)
