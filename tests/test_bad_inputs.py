"""Bad and unusual input for every public entry point that takes a volume.

Each input gets either the right answer or a ``ValueError``/``TypeError``
that names the problem, never an error from inside numpy, POT or torch nor a
silently wrong result. Unusual but valid volumes (any integer dtype, float
volumes holding whole numbers, labels up to ``2**63 - 1``, non-consecutive
labels, one layer, cells touching the border, a fragment of one layer, memory
layouts) must give the same answer as the plain ``uint16`` volume they encode.
The command line is run in-process through ``sklearn_overseg.cli.main``: a bad
input ends it with one ``overseg: error: ...`` line and exit code 1. Bad voxel
sizes, damaged files and model files, and read-only destinations follow.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import pickle
import warnings
import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    CandidateScreener,
    CandidateSet,
    GeoWassersteinFeatures,
    MergeCorrector,
    TiltedReslicer,
    apply_decisions,
    contact_pairs,
    fit_contact_plane,
    geo_wasserstein,
    interpolate_masks,
    label_candidates,
    load_model,
    load_pretrained,
    make_pair_pipeline,
    make_training_candidates,
    save_model,
)
from sklearn_overseg.cli import _commands as commands
from sklearn_overseg.cli import _corrector_options, main
from sklearn_overseg.datasets import oversegment
from sklearn_overseg.features._wasserstein import layer_distances
from sklearn_overseg.io import _labels as io_labels
from sklearn_overseg.io import read_labels, write_labels
from sklearn_overseg.metrics import (
    average_precision,
    jaccard_index,
    variation_of_information,
)
from sklearn_overseg.models import _serialization as serialization

pytest.importorskip("h5py")
pytest.importorskip("zarr")


@pytest.fixture(scope="module")
def pretrained():
    return load_pretrained("axis")


@pytest.fixture
def fast_models(monkeypatch, pretrained):
    """In-process CLI runs get a copy of the loaded corrector (no re-loading)."""
    monkeypatch.setattr(
        _corrector_options, "load_pretrained",
        lambda name="axis": copy.deepcopy(pretrained),
    )


# ---------------------------------------------------------------- volumes
def _template(name: str) -> np.ndarray:
    """Small uint16 volumes whose correction is obvious."""
    if name == "two_fragments":  # one cell, layer 3 missing
        v = np.zeros((7, 8, 8), np.uint16)
        v[:3, 2:6, 2:6], v[4:, 2:6, 2:6] = 1, 2
    elif name == "one_layer_fragment":  # the upper fragment has a single layer
        v = np.zeros((6, 8, 8), np.uint16)
        v[0, 2:6, 2:6], v[2:, 2:6, 2:6] = 1, 2
    elif name == "touching_border":  # four cells filling every layer edge to edge
        v = np.zeros((7, 6, 6), np.uint16)
        v[:3, :, :3], v[:3, :, 3:], v[4:, :, :3], v[4:, :, 3:] = 1, 3, 2, 4
    elif name == "single_cell":
        v = np.zeros((5, 6, 6), np.uint16)
        v[1:4, 1:5, 1:5] = 1
    elif name == "single_layer":
        v = np.zeros((1, 6, 8), np.uint16)
        v[0, 1:5, 1:4], v[0, 1:5, 4:7] = 1, 2
    else:  # pragma: no cover
        raise KeyError(name)
    return v


def _huge(v: np.ndarray, dtype) -> np.ndarray:
    """Labels shifted to end at ``2**63 - 1`` (order kept)."""
    out = v.astype(dtype)
    out[v > 0] += dtype(2**63 - 1 - int(v.max()))
    return out


#: how an unusual volume encodes its template (labels keep their order)
TRANSFORMS = {
    "uint8": lambda v: v.astype(np.uint8),
    "uint16": lambda v: v,
    "uint32": lambda v: v.astype(np.uint32),
    "int8": lambda v: v.astype(np.int8),
    "int32": lambda v: v.astype(np.int32),
    "int64": lambda v: v.astype(np.int64),
    "uint64": lambda v: v.astype(np.uint64),
    "big_endian": lambda v: v.astype(">u2"),
    "float64_whole": lambda v: v.astype(np.float64),
    "float32_whole": lambda v: v.astype(np.float32),
    "non_consecutive": lambda v: np.where(v > 0, 1000 * v.astype(np.uint32) + 5, 0),
    "huge_int64": lambda v: _huge(v, np.int64),
    "huge_uint64": lambda v: _huge(v, np.uint64),
    "fortran_order": np.asfortranarray,
    "strided_view": lambda v: np.repeat(v, 2, axis=2)[:, :, ::2],
    "read_only": lambda v: np.broadcast_to(v, v.shape),
}
GOOD = [(t, n) for t in ("two_fragments", "one_layer_fragment") for n in TRANSFORMS]
GOOD += [(t, "uint16") for t in ("touching_border", "single_cell", "single_layer")]


def _bad_volumes() -> dict:
    v = _template("two_fragments")
    nan, inf = v.astype(float), v.astype(float)
    nan[0, 0, 0], inf[0, 0, 0] = np.nan, np.inf
    too_big = v.astype(float)
    too_big[v == 2] = 2.0**63
    beyond_int64 = v.astype(np.uint64)
    beyond_int64[v == 2] = 2**64 - 1
    return {
        "2d": v[0],
        "4d_channel": v[..., None],
        "bool": v > 0,
        "float_fraction": v + 0.5,
        "nan": nan,
        "inf": inf,
        "negative": v.astype(np.int64) - 1,
        "no_layers": np.zeros((0, 8, 8), np.uint16),
        "background_only": np.zeros_like(v),
        "object": v.astype(object),
        "complex": v.astype(complex),
        "file_name": "cells.tif",
        "none": None,
        "float_beyond_int64": too_big,
        "uint64_beyond_int64": beyond_int64,
    }


BAD = _bad_volumes()
#: error and message of each bad volume, for entry points needing a 3D volume
ERRORS = {
    "2d": (ValueError, "3D"),
    "4d_channel": (ValueError, "channel|3D"),
    "bool": (TypeError, "boolean"),
    "float_fraction": (ValueError, "non-integer"),
    "nan": (ValueError, "NaN"),
    "inf": (ValueError, "infinite"),
    "negative": (ValueError, "negative"),
    "no_layers": (ValueError, "empty"),
    "background_only": (ValueError, "only background"),
    "object": (TypeError, "dtype"),
    "complex": (TypeError, "dtype"),
    "file_name": (TypeError, "str"),
    "none": (TypeError, "None"),
    "float_beyond_int64": (ValueError, "too large"),
    "uint64_beyond_int64": (ValueError, r"2\*\*63"),
}


# ------------------------------------------------------------ entry points
class _Context:
    """What the entry points need besides the volume."""

    def __init__(self, corrector, folder):
        self.corrector, self.folder = corrector, folder
        self.fresh = MergeCorrector(
            classifier=make_pair_pipeline(LogisticRegression()), damage="axis",
            n_rounds=1,
        )


@pytest.fixture(scope="module")
def context(pretrained, tmp_path_factory):
    return _Context(pretrained, tmp_path_factory.mktemp("battery"))


def _screen(mode):
    return lambda v, ctx: CandidateScreener(mode=mode, max_gap=2).fit_transform(v)


ENTRY_POINTS = {
    "screen_axis": _screen("axis"),
    "screen_contact": _screen("contact"),
    "screen_both": _screen("both"),
    "screener_fit": lambda v, ctx: CandidateScreener().fit(v),
    "correct": lambda v, ctx: ctx.corrector.correct(v),
    "transform": lambda v, ctx: ctx.corrector.transform(v),
    "predict_merges": lambda v, ctx: ctx.corrector.predict_merges(v),
    "score": lambda v, ctx: ctx.corrector.score([v], [v]),
    "apply_decisions": lambda v, ctx: apply_decisions(v, [], corrector=ctx.corrector),
    "oversegment": lambda v, ctx: oversegment(v, 1, random_state=0),
    "make_training_candidates": lambda v, ctx: make_training_candidates(
        [v], n_rounds=1, random_state=0
    ),
    "label_candidates": lambda v, ctx: label_candidates(
        ctx.corrector.screener_.transform([v]), [v], [v]
    ),
    "corrector_fit": lambda v, ctx: clone(ctx.fresh).fit([v]),
    "contact_pairs": lambda v, ctx: contact_pairs(v),
    "write_labels": lambda v, ctx: write_labels(ctx.folder / "out.tif", v),
    "average_precision": lambda v, ctx: average_precision(v, v),
    "jaccard_index": lambda v, ctx: jaccard_index(v, v),
    "variation_of_information": lambda v, ctx: variation_of_information(v, v),
}
#: entry points that accept what a 3D label volume with cells would refuse
ACCEPTS = {
    "contact_pairs": {"background_only"},
    "write_labels": {"background_only", "uint64_beyond_int64"},
    "screener_fit": {"background_only", "uint64_beyond_int64"},  # only validates
}
# an all-background volume (an empty tile of a large stack) is valid: nothing
# to screen, correct or learn from
for _entry in ("screen_axis", "screen_contact", "screen_both", "correct",
               "transform", "predict_merges", "score", "apply_decisions",
               "make_training_candidates", "label_candidates"):
    ACCEPTS.setdefault(_entry, set()).add("background_only")
for _metric in ("average_precision", "jaccard_index", "variation_of_information"):
    # metrics compare label arrays of any dimension, cells or not
    ACCEPTS[_metric] = {"2d", "4d_channel", "background_only", "uint64_beyond_int64"}
#: other errors of some entry points
OTHER_ERRORS = {
    ("write_labels", "float_fraction"): (TypeError, "float"),
    ("write_labels", "nan"): (TypeError, "float"),
    ("write_labels", "inf"): (TypeError, "float"),
    ("write_labels", "float_beyond_int64"): (TypeError, "float"),
    ("write_labels", "file_name"): (TypeError, "integer dtype"),
    ("write_labels", "none"): (TypeError, "integer dtype"),
    ("oversegment", "uint64_beyond_int64"): (ValueError, "64-bit"),
    ("make_training_candidates", "uint64_beyond_int64"): (ValueError, "64-bit"),
    ("corrector_fit", "uint64_beyond_int64"): (ValueError, "64-bit"),
    ("corrector_fit", "background_only"): (ValueError, "no candidate pairs"),
}


def _check_accepted(entry: str, volume: np.ndarray, result, ctx) -> None:
    """An accepted unusual volume must still get the right answer."""
    if entry == "average_precision":
        assert result.tolist() == [1.0, 1.0, 1.0]
    elif entry == "jaccard_index":
        assert result == 1.0
    elif entry == "variation_of_information":
        assert result == pytest.approx((0.0, 0.0))
    elif entry == "contact_pairs":
        assert result[0].shape == (0, 2) and result[1].shape == (0,)
    elif entry == "write_labels":
        np.testing.assert_array_equal(read_labels(ctx.folder / "out.tif"), volume)
    elif entry == "screener_fit":
        assert result.n_volumes_in_ == 1
    elif entry.startswith("screen_") or entry == "predict_merges":
        assert len(result) == 0
    elif entry in ("correct", "apply_decisions"):
        np.testing.assert_array_equal(result, volume)
        assert result.dtype == volume.dtype and result is not volume
    elif entry == "transform":
        assert len(result) == 1
        np.testing.assert_array_equal(result[0], volume)
    elif entry == "score":
        assert result == 1.0
    elif entry == "make_training_candidates":
        assert len(result[0]) == len(result[1]) == 0
    elif entry == "label_candidates":
        assert len(result) == 0


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_bad_volumes_are_refused_clearly(entry, case, context):
    volume = BAD[case]
    before = copy.deepcopy(volume)
    if case in ACCEPTS.get(entry, ()):
        result = ENTRY_POINTS[entry](volume, context)
        _check_accepted(entry, volume, result, context)
    else:
        error, match = OTHER_ERRORS.get((entry, case), ERRORS[case])
        with pytest.raises(error, match=match):
            ENTRY_POINTS[entry](volume, context)
    if isinstance(volume, np.ndarray):
        np.testing.assert_array_equal(volume, before)


# ----------------------------------------------- unusual but valid volumes
@pytest.fixture(scope="module")
def references(pretrained):
    """Correction, review records and candidates of every uint16 template."""
    refs = {}
    for name in {t for t, _ in GOOD}:
        v = _template(name)
        refs[name] = dict(
            corrected=pretrained.correct(v),
            records=pretrained.predict_merges(v),
            pairs=CandidateScreener(mode="both", max_gap=2).fit_transform(v).pairs,
            contacts=contact_pairs(v)[0],
        )
    return refs


def test_the_templates_are_corrected_as_expected(references):
    for name in ("two_fragments", "one_layer_fragment", "touching_border"):
        template, ref = _template(name), references[name]
        assert all(r["merged"] for r in ref["records"]), name
        gap = (template == 0).all(axis=(1, 2))
        assert (ref["corrected"][gap] > 0).any(), f"{name}: gap not rebuilt"
        cells = set(np.unique(ref["corrected"]).tolist()) - {0}
        assert 2 * len(cells) == len(set(np.unique(template).tolist()) - {0})
    for name in ("single_cell", "single_layer"):
        np.testing.assert_array_equal(references[name]["corrected"], _template(name))


def _encoded(template: np.ndarray, transform: str, array: np.ndarray) -> np.ndarray:
    """``array`` (labels of ``template``) encoded as ``transform`` encodes it."""
    labels = np.unique(template)
    encoded = np.asarray(TRANSFORMS[transform](template))
    mapping = {int(lab): encoded[template == lab].flat[0] for lab in labels}
    out = np.zeros(array.shape, np.asarray(encoded).dtype)
    for lab, value in mapping.items():
        out[array == lab] = value
    return out


@pytest.mark.parametrize(("template", "transform"), GOOD)
def test_unusual_volumes_get_the_same_answer(template, transform, pretrained,
                                             references, tmp_path):
    base, ref = _template(template), references[template]
    volume = TRANSFORMS[transform](base)
    before = np.array(volume, copy=True)
    out_dtype = np.int64 if volume.dtype.kind == "f" else volume.dtype

    def encode(array):
        return _encoded(base, transform, array).astype(out_dtype)

    def label(value):
        return int(encode(np.array([[[value]]]))[0, 0, 0])

    expected = encode(ref["corrected"])
    corrected = pretrained.correct(volume)
    assert corrected.dtype == out_dtype
    np.testing.assert_array_equal(corrected, expected)
    np.testing.assert_array_equal(pretrained.transform([volume])[0], expected)
    records = pretrained.predict_merges(volume)
    assert [(r["upper"], r["lower"], r["merged"]) for r in records] == [
        (label(r["upper"]), label(r["lower"]), r["merged"]) for r in ref["records"]
    ]
    reviewed = apply_decisions(volume, records, corrector=pretrained)
    np.testing.assert_array_equal(reviewed, expected)

    pairs = CandidateScreener(mode="both", max_gap=2).fit_transform(volume).pairs
    assert pairs.tolist() == [[label(a), label(b)] for a, b in ref["pairs"]]
    assert contact_pairs(volume)[0].tolist() == [
        [label(a), label(b)] for a, b in ref["contacts"]
    ]
    assert average_precision(volume, volume).tolist() == [1.0, 1.0, 1.0]
    assert variation_of_information(volume, volume) == pytest.approx((0, 0))
    if transform == "huge_int64":  # a new label would not fit
        with pytest.raises(ValueError, match="64-bit"):
            oversegment(volume, 1, random_state=0)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "could not split"
            flawed, _ = oversegment(volume, 1, random_state=0)
        assert flawed.dtype == out_dtype and np.all(flawed[before == 0] == 0)
    if volume.dtype.kind != "f":
        write_labels(tmp_path / "labels.npy", volume)
        np.testing.assert_array_equal(read_labels(tmp_path / "labels.npy"), volume)
    np.testing.assert_array_equal(volume, before)


def test_a_stack_of_volumes_is_a_list_and_a_4d_volume_is_refused(pretrained):
    v = _template("two_fragments")
    stack = np.stack([v, v[:, ::-1]])
    results = pretrained.transform(stack)
    assert len(results) == 2
    np.testing.assert_array_equal(results[1], pretrained.correct(v[:, ::-1]))
    for method in (pretrained.correct, pretrained.predict_merges):
        with pytest.raises(ValueError, match="3D"):
            method(stack[:1])
    with pytest.raises(ValueError, match="3D label volume or a list"):
        CandidateScreener().fit_transform(stack[None])


def test_bad_calls_around_volumes(pretrained):
    v = _template("two_fragments")
    with pytest.raises(TypeError, match="dict"):
        apply_decisions(v, [(1, 2, True)], corrector=pretrained)
    with pytest.raises(ValueError, match="merged"):
        apply_decisions(v, [dict(upper=1, lower=2)], corrector=pretrained)
    with pytest.raises(ValueError, match="label number"):
        apply_decisions(v, [dict(upper="1", lower=2, merged=True)],
                        corrector=pretrained)
    with pytest.raises(ValueError, match="absent"):
        apply_decisions(v, [dict(upper=1, lower=9, merged=True)], corrector=pretrained)
    with pytest.raises(NotFittedError):
        apply_decisions(v, [dict(upper=1, lower=2, merged=True)],
                        corrector=MergeCorrector())
    with pytest.raises(ValueError, match="shape"):
        pretrained.correct(v, out=np.zeros((7, 8, 8), np.int64))
    with pytest.raises(ValueError, match="empty list"):
        pretrained.transform([])
    with pytest.raises(ValueError, match=r"^volume 2 of 2 must be a 3D"):
        pretrained.transform([v, v[0]])
    with pytest.raises(ValueError, match="ground truth"):
        label_candidates(CandidateScreener().fit_transform(v), [v], [v[:, :-1]])


# ------------------------------------------------------------- voxel sizes
BAD_VOXEL_SIZES = [(1.0, 1.0), (1.0, 1.0, 1.0, 1.0), (0.0, 1.0, 1.0),
                   (-1.0, 1.0, 1.0), (np.nan, 1.0, 1.0), (np.inf, 1.0, 1.0),
                   ("a", 1.0, 1.0), 0.0, -2.0]


def _contact_candidate():
    v = np.zeros((6, 8, 8), np.uint16)
    v[1:5, 1:7, 1:4], v[1:5, 1:7, 4:7] = 1, 2
    return CandidateScreener(mode="contact").fit_transform(v)


VOXEL_ENTRY_POINTS = {
    "screener": lambda vs, folder: CandidateScreener().fit_transform(
        _template("two_fragments"), voxel_size=vs
    ),
    "oversegment": lambda vs, folder: oversegment(
        _template("two_fragments"), 1, mode="tilted", voxel_size=vs
    ),
    "write_labels": lambda vs, folder: write_labels(
        folder / "labels.npz", _template("two_fragments"), voxel_size=vs
    ),
    "fit_contact_plane": lambda vs, folder: fit_contact_plane(
        _contact_candidate()[0].crop, vs
    ),
    "reslicer": lambda vs, folder: TiltedReslicer().fit_transform(
        CandidateSet([replace(_contact_candidate()[0], voxel_size=vs)])
    ),
}
_MASK = np.zeros((8, 8), bool)
_MASK[2:5, 2:5] = True
# in-plane functions: a 2-entry size is right, (z, y, x) sizes are accepted too
PLANE_ENTRY_POINTS = {
    "geo_wasserstein": lambda vs: geo_wasserstein(_MASK, _MASK, voxel_size=vs),
    "layer_distances": lambda vs: layer_distances([_MASK, _MASK], voxel_size=vs),
    "interpolate_masks": lambda vs: interpolate_masks(_MASK, _MASK, voxel_size=vs),
}


@pytest.mark.parametrize("voxel_size", BAD_VOXEL_SIZES, ids=repr)
@pytest.mark.parametrize("entry", sorted(VOXEL_ENTRY_POINTS))
def test_bad_voxel_sizes_are_refused(entry, voxel_size, tmp_path):
    with pytest.raises((ValueError, TypeError), match="voxel_size"):
        VOXEL_ENTRY_POINTS[entry](voxel_size, tmp_path)
    assert not list(tmp_path.iterdir())


BAD_PIXEL_SIZES = [(1.0,), (1.0, 1.0, 1.0, 1.0), (0.0, 1.0), (-1.0, 1.0),
                   (np.nan, 1.0), (np.inf, 1.0), ("a", 1.0), 0.0, -2.0]
# interpolate_masks also takes a (z, y, x) size: its z must be valid too
PLANE_CASES = [(e, vs) for e in sorted(PLANE_ENTRY_POINTS) for vs in BAD_PIXEL_SIZES]
PLANE_CASES += [("interpolate_masks", vs) for vs in ((0.0, 1.0, 1.0),
                                                      (np.nan, 1.0, 1.0))]


@pytest.mark.parametrize(("entry", "voxel_size"), PLANE_CASES, ids=repr)
def test_bad_pixel_sizes_are_refused(entry, voxel_size):
    with pytest.raises((ValueError, TypeError), match="voxel_size"):
        PLANE_ENTRY_POINTS[entry](voxel_size)


# ------------------------------------------------------------ damaged files
def _damaged_files(folder) -> dict:
    """Empty, garbage and truncated files of every format."""
    v = _template("two_fragments")
    files = {}
    for suffix in (".npy", ".npz", ".tif", ".h5"):
        good = folder / f"good{suffix}"
        write_labels(good, v)
        data = good.read_bytes()
        for kind, content in (("empty", b""), ("garbage", b"garbage " * 40),
                              ("truncated", data[: len(data) // 2])):
            path = folder / f"{kind}{suffix}"
            path.write_bytes(content)
            files[path.name] = path
    store = folder / "chunks.zarr"
    write_labels(store, v)
    for chunk in store.rglob("*"):
        if chunk.is_file() and chunk.name != "zarr.json":
            chunk.write_bytes(b"xx")
    (folder / "notzarr.zarr").mkdir()
    files["chunks.zarr"], files["notzarr.zarr"] = store, folder / "notzarr.zarr"
    return files


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    return _damaged_files(tmp_path_factory.mktemp("damaged"))


def test_damaged_files_raise_a_value_error_naming_them(damaged):
    for name, path in damaged.items():
        with pytest.raises(ValueError) as info:
            read_labels(path)
        assert str(path) in str(info.value), name
        if "truncated" not in name:  # a cut ImageJ TIFF shows its first page
            assert "damaged" in str(info.value), name


def test_npy_of_python_objects_is_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}] * 8, dtype=object).reshape(2, 2, 2),
            allow_pickle=True)

    def refuse(*args, **kwargs):
        raise AssertionError("a label file was unpickled")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    with pytest.raises(TypeError, match="object data"):
        read_labels(path)


# ----------------------------------------------------------- command line
def _one_line_error(capsys, argv, *expected: str) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1, (argv, err)
    assert len(err) == 1 and err[0].startswith("overseg: error: "), err
    for text in expected:
        assert text in err[0], (text, err[0])
    return err[0]


@pytest.fixture(scope="module")
def cli_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli_battery")
    saved = {}
    for case, volume in BAD.items():
        if isinstance(volume, np.ndarray):
            np.save(folder / f"{case}.npy", volume, allow_pickle=True)
            saved[case] = folder / f"{case}.npy"
    (folder / "decisions.csv").write_text("upper,lower,merged\n1,2,yes\n")
    write_labels(folder / "good.tif", _template("two_fragments"))
    return folder, saved


CLI_TRAIN_MESSAGES = {"uint64_beyond_int64": "64-bit",
                      "background_only": "no candidate pairs"}
# decisions.csv merges labels 1 and 2, which an empty volume does not hold
CLI_APPLY_MESSAGES = {"background_only": "labels absent from the volume"}
CLI_MESSAGES = {  # what the one-line error says about each bad file
    "2d": "3D", "4d_channel": "3D", "bool": "bool",
    "float_fraction": "non-integer values (first at z=0, y=0, x=0: 0.5)",
    "nan": "NaN values (first at z=0, y=0, x=0: nan)",
    "inf": "infinite values (first at z=0, y=0, x=0: inf)",
    "negative": "negative", "no_layers": "empty", "object": "object",
    "complex": "complex",
    # whole-number floats are read as the smallest unsigned dtype holding
    # them: 2**63 needs uint64, so the file is the uint64 one below
    "float_beyond_int64": "2**63", "uint64_beyond_int64": "2**63",
}
#: bad files that a command reading 64-bit unsigned labels takes
CLI_UINT64 = ("background_only", "uint64_beyond_int64", "float_beyond_int64")


@pytest.mark.parametrize("command", ["correct", "evaluate", "apply-decisions",
                                     "train"])
def test_cli_refuses_bad_files_in_one_line(command, cli_files, fast_models, capsys):
    folder, saved = cli_files
    for case, path in saved.items():
        out = str(folder / f"out_{case}.tif")
        argv = {
            "correct": ["correct", str(path), "-o", out, "-q"],
            "evaluate": ["evaluate", str(path), str(path)],
            "apply-decisions": ["apply-decisions", str(path),
                                str(folder / "decisions.csv"), "-o", out, "-q"],
            "train": ["train", str(path), "-o", str(folder / "m.json"), "-q",
                      "--classifier", "logistic", "--rounds", "1"],
        }[command]
        if command == "evaluate" and case in CLI_UINT64:
            assert main(argv) == 0
            capsys.readouterr()
            continue
        if command == "correct" and case == "background_only":  # an empty tile
            assert main(argv) == 0
            assert "no cells, nothing to correct" in capsys.readouterr().out
            assert not read_labels(out).any()
            os.remove(out)  # the other commands must not leave one
            continue
        message = {"train": CLI_TRAIN_MESSAGES,
                   "apply-decisions": CLI_APPLY_MESSAGES}.get(command, {}).get(case)
        message = message or CLI_MESSAGES[case]
        _one_line_error(capsys, argv, message)
        assert not os.path.exists(out)


def test_cli_refuses_damaged_files_in_one_line(damaged, cli_files, fast_models,
                                                capsys):
    folder, _ = cli_files
    for path in damaged.values():
        _one_line_error(capsys, ["correct", str(path), "-o",
                                 str(folder / "never.tif"), "-q"], str(path))
        _one_line_error(capsys, ["evaluate", str(folder / "good.tif"), str(path)],
                        str(path))
    assert not (folder / "never.tif").exists()


@pytest.mark.parametrize(("template", "transform"),
                         [("two_fragments", t) for t in ("uint8", "uint32", "int64",
                                                         "huge_int64",
                                                         "non_consecutive",
                                                         "float32_whole",
                                                         "float64_whole")]
                         + [("single_layer", "uint16"), ("touching_border",
                                                         "uint16")])
def test_cli_corrects_unusual_files_like_the_api(template, transform, pretrained,
                                                 fast_models, tmp_path, capsys):
    volume = np.ascontiguousarray(TRANSFORMS[transform](_template(template)))
    np.save(tmp_path / "in.npy", volume)
    assert main(["correct", str(tmp_path / "in.npy"), "-o",
                 str(tmp_path / "out.npy"), "-q"]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"),
                                  pretrained.correct(volume))


# ------------------------------------------------------------- model files
@pytest.fixture(scope="module")
def model_files(pretrained, tmp_path_factory):
    """The pretrained model saved, plus damaged and hostile variants of it."""
    folder = tmp_path_factory.mktemp("models")
    good = save_model(pretrained, folder / "good.json")
    text, weights = good.read_text(), good.with_suffix(".npz").read_bytes()
    doc = json.loads(text)

    def variant(name, json_text=text, npz=weights):
        (folder / f"{name}.json").write_text(json_text)
        (folder / f"{name}.npz").write_bytes(npz)
        return folder / f"{name}.json"

    newer = dict(doc, format_version=doc["format_version"] + 1)
    older = dict(doc, format_version=0)
    hostile = copy.deepcopy(doc)
    hostile["estimator"]["params"]["classifier"] = {
        "class": "builtins.eval", "params": {}}
    smuggled = copy.deepcopy(doc)
    smuggled["estimator"]["params"]["screener"] = {"__class__": "os.system"}
    with np.load(good.with_suffix(".npz")) as data:
        arrays = {k: data[k] for k in data.files}
    arrays[sorted(arrays)[0]] = np.array([{"evil": 1}], dtype=object)
    pickled = folder / "pickled.npz"
    np.savez(pickled, **arrays)
    return {
        "good": good,
        "cut_json": variant("cut_json", text[: len(text) // 2]),
        "truncated_npz": variant("truncated_npz", npz=weights[: len(weights) // 2]),
        "empty_npz": variant("empty_npz", npz=b""),
        "newer_version": variant("newer", json.dumps(newer)),
        "older_version": variant("older", json.dumps(older)),
        "hostile_class": variant("hostile", json.dumps(hostile)),
        "smuggled_class": variant("smuggled", json.dumps(smuggled)),
        "object_array": variant("object_array", npz=pickled.read_bytes()),
    }


MODEL_ERRORS = {
    "cut_json": "not a sklearn_overseg model file",
    "truncated_npz": "corrupt|truncated",
    "empty_npz": "corrupt|truncated", "newer_version": "format version",
    "older_version": "format version", "hostile_class": "unknown class",
    "smuggled_class": "unknown class", "object_array": "inconsistent|[Oo]bject",
}


@pytest.mark.parametrize("name", sorted(MODEL_ERRORS))
def test_bad_model_files_are_refused(name, model_files, capsys, tmp_path):
    path = model_files[name]
    with pytest.raises(ValueError, match=MODEL_ERRORS[name]):
        load_model(path)
    np.save(tmp_path / "in.npy", _template("two_fragments"))
    _one_line_error(capsys, ["correct", str(tmp_path / "in.npy"), "-o",
                             str(tmp_path / "out.npy"), "--model", str(path)],
                    str(path))
    assert not (tmp_path / "out.npy").exists()


def test_loading_never_unpickles(model_files, monkeypatch):
    """load_model reads arrays with allow_pickle=False and never unpickles."""
    calls = []
    real_load = np.load

    def spy_load(*args, **kwargs):
        calls.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("loading a model unpickled something")

    monkeypatch.setattr(serialization.np, "load", spy_load)
    for module, name in ((pickle, "load"), (pickle, "loads"), (torch, "load")):
        monkeypatch.setattr(module, name, refuse)
    model = load_model(model_files["good"])
    assert calls and all(flag is False for flag in calls)
    assert isinstance(model, MergeCorrector)
    with pytest.raises(ValueError):
        load_model(model_files["object_array"])
    assert all(flag is False for flag in calls)
    assert zipfile.is_zipfile(model_files["object_array"].with_suffix(".npz"))


def test_unknown_pretrained_name(capsys, tmp_path):
    with pytest.raises(ValueError, match="available"):
        load_pretrained("sideways")
    np.save(tmp_path / "in.npy", _template("two_fragments"))
    _one_line_error(capsys, ["correct", str(tmp_path / "in.npy"), "-o",
                             str(tmp_path / "o.npy"), "--model", "sideways"],
                    "sideways")


# ------------------------------------------------------ read-only outputs
def test_read_only_zarr_store_is_a_clear_error(tmp_path, monkeypatch):
    store = tmp_path / "out.zarr"
    write_labels(store, _template("two_fragments"))

    def read_only_writer(path, labels, key, voxel_size, name=None):
        raise PermissionError(errno.EACCES, "Permission denied", "zarr.json")

    monkeypatch.setitem(io_labels._WRITERS, "zarr", read_only_writer)
    for target in (store, f"{store}:labels"):
        with pytest.raises(PermissionError, match="read-only") as info:
            write_labels(target, _template("two_fragments"))
        assert str(store) in str(info.value)


def test_cli_checks_the_destination_before_working(tmp_path, monkeypatch,
                                                   fast_models, capsys):
    store = tmp_path / "out.zarr"
    write_labels(store, _template("single_cell"))
    np.save(tmp_path / "in.npy", _template("two_fragments"))
    real_access = os.access
    monkeypatch.setattr(
        io_labels.os, "access",
        lambda path, mode: False if str(path).startswith(str(store)) else
        real_access(path, mode),
    )
    work = []
    monkeypatch.setattr(commands, "read_input", lambda *a, **k: work.append(a))
    for output in (str(store), f"{store}:fixed"):
        _one_line_error(capsys, ["correct", str(tmp_path / "in.npy"), "-o", output],
                        "read-only", str(store))
    assert not work, "the volume was read before the destination was checked"
    np.testing.assert_array_equal(read_labels(store), _template("single_cell"))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not bind the root user",
)
def test_a_really_read_only_zarr_store(tmp_path, capsys, fast_models):
    store = tmp_path / "out.zarr"
    write_labels(store, _template("single_cell"))
    paths = [store, *store.rglob("*")]
    for path in paths:
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        with pytest.raises(PermissionError, match="read-only"):
            write_labels(store, _template("two_fragments"))
        np.save(tmp_path / "in.npy", _template("two_fragments"))
        _one_line_error(capsys, ["correct", str(tmp_path / "in.npy"), "-o",
                                 str(store)], "read-only")
    finally:
        for path in paths:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_geo_features_reject_arrays_not_candidate_sets():
    with pytest.raises(TypeError, match="CandidateSet"):
        GeoWassersteinFeatures().fit(np.zeros((2, 3)))
