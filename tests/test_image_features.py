"""Optional image evidence: ImageFeatures, image= on the corrector, --image."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from sklearn_overseg import (
    CandidateScreener,
    ImageFeatures,
    MergeCorrector,
    load_model,
    make_pair_pipeline,
    make_training_candidates,
    save_model,
)
from sklearn_overseg.correction import attach_images
from sklearn_overseg.datasets import make_tissue, make_tissue_image, oversegment
from sklearn_overseg.features import uses_image


def _stacks():
    """True labels: one tall cell beside two stacked cells (meeting at z=5)."""
    truth = np.zeros((10, 12, 24), dtype=np.uint16)
    truth[:, 2:10, 2:10] = 1
    truth[:5, 2:10, 14:22] = 2
    truth[5:, 2:10, 14:22] = 3
    return truth


def _axis_pairs(image):
    """Cell 1 split by a missing layer; cells 2 and 3 across a missing layer."""
    truth = _stacks()
    flawed = truth.copy()
    flawed[5] = 0
    flawed[6:][flawed[6:] == 1] = 4
    cands = CandidateScreener().transform(flawed)
    assert sorted(map(tuple, cands.pairs.tolist())) == [(1, 4), (2, 3)]
    cands = attach_images(cands, [flawed], [image])
    return cands, ImageFeatures().fit(cands)


def _by_pair(cands, features):
    names = list(ImageFeatures().fit(cands).get_feature_names_out())
    return {
        tuple(pair): dict(zip(names, row))
        for pair, row in zip(cands.pairs.tolist(), features)
    }


def test_membrane_between_two_cells_scores_above_a_split_cell():
    image = make_tissue_image(_stacks(), "membrane", blur=(0.5, 1, 1), noise=0.0,
                              random_state=0)
    cands, est = _axis_pairs(image)
    f = _by_pair(cands, est.transform(cands))
    split, distinct = f[(1, 4)], f[(2, 3)]
    assert distinct["interface_contrast"] > split["interface_contrast"] + 1.0
    assert distinct["interface_peak"] > split["interface_peak"] + 1.0
    assert abs(split["interface_contrast"]) < 0.5  # cytoplasm continues


def test_nuclear_signal_continues_across_a_cut_but_not_between_nuclei():
    truth = _stacks()
    image = np.full(truth.shape, 0.1, dtype=np.float32)
    image[truth == 1] = 1.0
    image[truth == 2] = 1.0
    image[truth == 3] = 0.3  # a different, dimmer nucleus
    image[4:6][truth[4:6] > 1] = 0.1  # and a dark rim where they meet
    rng = np.random.default_rng(0)
    image += rng.normal(0, 0.01, image.shape).astype(np.float32)
    cands, est = _axis_pairs(image)
    f = _by_pair(cands, est.transform(cands))
    split, distinct = f[(1, 4)], f[(2, 3)]
    assert distinct["near_mean_diff"] > split["near_mean_diff"] + 0.2
    assert distinct["interface_dip"] < split["interface_dip"] - 0.2


def test_contact_pairs_see_the_membrane_at_their_contact():
    truth = _stacks()
    image = make_tissue_image(truth, "membrane", blur=(0.5, 1, 1), noise=0.0,
                              random_state=1)
    cut = truth.copy()
    cut[5:][cut[5:] == 1] = 4  # a cut through cell 1, no missing layer
    cands = CandidateScreener(mode="contact").transform(cut)
    cands = attach_images(cands, [cut], [image])
    f = _by_pair(cands, ImageFeatures().fit(cands).transform(cands))
    assert f[(2, 3)]["interface_contrast"] > f[(1, 4)]["interface_contrast"] + 1.0


def test_candidates_without_an_image_are_refused():
    cands = CandidateScreener().transform(oversegment(
        make_tissue((16, 48, 48), n_cells=10, random_state=0), n_splits=2,
        random_state=0)[0])
    with pytest.raises(ValueError, match="needs the raw image.*image="):
        ImageFeatures().fit(cands)
    with pytest.raises(TypeError, match="CandidateSet"):
        ImageFeatures().fit(np.zeros((3, 4)))


def test_features_are_unit_free():
    # the same scene at another gain and offset gives the same features
    image = make_tissue_image(_stacks(), "membrane", noise=0.05, random_state=2)
    cands, est = _axis_pairs(image)
    brighter, _ = _axis_pairs(image * 37.0 + 500.0)
    np.testing.assert_allclose(
        est.transform(cands), est.transform(brighter), rtol=1e-4, atol=1e-4
    )


def test_pipeline_factory_and_uses_image():
    pipe = make_pair_pipeline(LogisticRegression(), image=True)
    assert [n for n, _ in pipe.named_steps["features"].transformer_list] == [
        "geo", "topology", "image"]
    assert uses_image(pipe) and uses_image(clone(pipe))
    assert not uses_image(make_pair_pipeline(LogisticRegression()))
    custom = make_pair_pipeline(LogisticRegression(), image=ImageFeatures(depth=3))
    assert custom.get_params()["features__image__depth"] == 3
    with pytest.raises(TypeError, match=r"'image' parameter of make_pair_pipeline "
                       r"must be .*'bool'.*ImageFeatures' or None"):
        make_pair_pipeline(LogisticRegression(), image="yes")


@pytest.fixture(scope="module")
def tissue():
    truth = [make_tissue((20, 56, 56), n_cells=16, random_state=s) for s in range(2)]
    images = [make_tissue_image(t, "membrane", random_state=s)
              for s, t in enumerate(truth)]
    flawed, _ = oversegment(truth[0], n_splits=3, random_state=3)
    return truth, images, flawed


@pytest.fixture(scope="module")
def image_corrector(tissue):
    truth, images, _ = tissue
    pipe = make_pair_pipeline(LogisticRegression(max_iter=2000), image=True)
    return MergeCorrector(classifier=pipe, damage="axis", n_rounds=2).fit(
        truth, images=images)


def test_training_candidates_carry_image_crops(tissue):
    truth, images, _ = tissue
    cands, y, _ = make_training_candidates(truth, images=images, n_rounds=1,
                                           random_state=0)
    assert len(cands) and all(c.image is not None for c in cands)
    assert all(c.image.shape == c.crop.shape and c.image.dtype == np.float32
               for c in cands)
    with pytest.raises(ValueError, match="2 volumes"):
        make_training_candidates(truth, images=images[:1])


def test_image_model_round_trips_through_save_model(image_corrector, tissue, tmp_path):
    _, images, flawed = tissue
    expected = image_corrector.correct(flawed, image=images[0])
    save_model(image_corrector, tmp_path / "m.json")
    loaded = load_model(tmp_path / "m.json")
    assert uses_image(loaded.classifier_)
    np.testing.assert_array_equal(loaded.correct(flawed, image=images[0]), expected)
    records = loaded.predict_merges(flawed, image=images[0])
    assert [r["probability"] for r in records] == pytest.approx(
        [r["probability"] for r in image_corrector.predict_merges(
            flawed, image=images[0])])


def test_image_model_without_image_gives_a_clear_error(image_corrector, tissue):
    _, _, flawed = tissue
    for call in (image_corrector.correct, image_corrector.predict_merges):
        with pytest.raises(ValueError, match="uses the raw image.*image="):
            call(flawed)
    # screening alone works (reviewed decisions rebuild gaps from it), scoring
    # the label-only pairs does not
    candidates = image_corrector.screen(flawed)
    with pytest.raises(ValueError, match="needs the raw image.*image="):
        image_corrector.score_pairs(candidates)


def test_label_only_model_ignores_the_image_with_a_warning(tissue):
    truth, images, flawed = tissue
    corrector = MergeCorrector(
        classifier=make_pair_pipeline(LogisticRegression(max_iter=2000)),
        damage="axis", n_rounds=1,
    ).fit(truth)
    with pytest.warns(UserWarning, match="labels only; image= is ignored"):
        with_image = corrector.correct(flawed, image=images[0])
    np.testing.assert_array_equal(with_image, corrector.correct(flawed))


def test_bad_images(image_corrector, tissue):
    _, images, flawed = tissue
    with pytest.raises(ValueError, match=r"image has shape \(20, 56, 55\)"):
        image_corrector.correct(flawed, image=images[0][..., :-1])
    nan = images[0].copy()
    nan[3, 4, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        image_corrector.correct(flawed, image=nan)
    with pytest.raises(TypeError, match="real numbers"):
        image_corrector.screen(flawed, image=images[0] > 0)
    kept = images[0].copy()
    image_corrector.screen(flawed, image=images[0])
    np.testing.assert_array_equal(images[0], kept)  # not modified


@pytest.mark.parametrize("as_image", [
    lambda labels: labels,
    lambda labels: (labels % 7).astype(np.float32) * 3.5,
])
def test_a_label_volume_as_image_warns(image_corrector, tissue, as_image):
    _, _, flawed = tissue
    with pytest.warns(UserWarning, match="looks like a label volume"):
        image_corrector.screen(flawed, image=as_image(flawed))


def test_a_real_looking_image_does_not_warn(image_corrector, tissue):
    _, images, flawed = tissue
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image_corrector.screen(flawed, image=images[0].astype(np.uint16))


def test_make_tissue_image():
    labels = make_tissue((8, 32, 32), n_cells=6, random_state=0)
    a = make_tissue_image(labels, "nuclei", random_state=4)
    np.testing.assert_array_equal(a, make_tissue_image(labels, "nuclei",
                                                       random_state=4))
    assert a.shape == labels.shape and a.min() >= 0
    with pytest.raises(ValueError, match=r"'kind' parameter of make_tissue_image "
                       r"must be a str among .*'membrane'.*Got 'dapi'"):
        make_tissue_image(labels, "dapi")
    with pytest.raises(ValueError, match=r"'noise' parameter of make_tissue_image "
                       r"must be a float in the range \[0\.0, inf\) or None"):
        make_tissue_image(labels, noise=-1)
    with pytest.raises(ValueError, match="blur must be non-negative"):
        make_tissue_image(labels, blur=(1.0, -1.0, 1.0))


def test_cli_correct_with_image(image_corrector, tissue, tmp_path):
    plt_image = pytest.importorskip("matplotlib.image")
    _, images, flawed = tissue
    save_model(image_corrector, tmp_path / "model.json")
    np.save(tmp_path / "seg.npy", flawed)
    np.save(tmp_path / "raw.npy", images[0])
    np.save(tmp_path / "small.npy", images[0][:-1])
    base = [sys.executable, "-m", "sklearn_overseg.cli", "correct", "seg.npy",
            "--model", "model.json", "--quiet"]
    done = subprocess.run(base + ["-o", "out.npy", "--image", "raw.npy",
                                  "--report", "review"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(
        np.load(tmp_path / "out.npy"), image_corrector.correct(flawed, image=images[0])
    )
    figures = sorted((tmp_path / "review" / "pairs").glob("*.png"))
    assert figures  # the report draws the raw image as a first row of panels
    height, width = plt_image.imread(figures[0]).shape[:2]
    assert height > 0.6 * width
    missing = subprocess.run(base + ["-o", "out2.npy"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and "--image" in missing.stderr
    wrong = subprocess.run(base + ["-o", "out3.npy", "--image", "small.npy"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert wrong.returncode != 0 and "image has shape" in wrong.stderr
    assert not (tmp_path / "out2.npy").exists()


def test_tilted_pairs_keep_their_image_through_reslicing():
    from sklearn_overseg import ContactFeatures, TiltedReslicer

    truth = make_tissue((16, 48, 48), n_cells=12, random_state=5)
    image = make_tissue_image(truth, "membrane", random_state=5)
    pipe = make_pair_pipeline(LogisticRegression(max_iter=2000),
                              reslicer=TiltedReslicer(), contact=ContactFeatures(),
                              image=True)
    corrector = MergeCorrector(CandidateScreener(mode="contact", min_contact=10),
                               pipe, damage="contact", n_rounds=1).fit(
        [truth], images=[image])
    flawed, _ = oversegment(truth, n_splits=3, mode="tilted", random_state=6)
    cands = corrector.screen(flawed, image=image)
    resliced = TiltedReslicer().fit_transform(cands)
    for before, after in zip(cands, resliced):
        assert after.kind == "tilted" and after.image is before.image
        assert after.image.shape == after.meta["contact_crop"].shape
    records = corrector.predict_merges(flawed, image=image)
    assert len(records) == len(cands)
    assert all(0 <= r["probability"] <= 1 for r in records)


def test_reviewed_decisions_of_an_image_model_need_no_image(image_corrector, tissue):
    from sklearn_overseg import apply_decisions

    _, images, flawed = tissue
    records = image_corrector.predict_merges(flawed, image=images[0])
    np.testing.assert_array_equal(
        apply_decisions(flawed, records, corrector=image_corrector),
        image_corrector.correct(flawed, image=images[0]),
    )


def test_a_routed_model_with_an_image_stitch_route_gets_the_image(tmp_path):
    # stitch splits (gap 0) decided with the image, gaps by labels only: the
    # corrector must see that the model uses the image, attach the crops and
    # ask for the image when it is missing
    from sklearn_overseg import (
        CandidateScreener,
        FragmentExtentFeatures,
        GapRoutedClassifier,
    )
    from sklearn_overseg.datasets import slice_and_stitch

    truth = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    image = make_tissue_image(truth, "membrane", random_state=0)
    flawed = [slice_and_stitch(truth, stitch_threshold=t, random_state=s)[0]
              for s, t in enumerate((0.25, 0.5))]
    routed = GapRoutedClassifier(
        stitch=make_pair_pipeline(LogisticRegression(max_iter=2000),
                                  extent=FragmentExtentFeatures(), image=True),
        gaps=make_pair_pipeline(LogisticRegression(max_iter=2000)),
    )
    assert uses_image(routed) and uses_image(clone(routed))
    assert not uses_image(GapRoutedClassifier())
    corrector = MergeCorrector(
        screener=CandidateScreener(min_gap=0, max_gap=2), classifier=routed
    ).fit(flawed, [truth, truth], images=[image, image])
    assert uses_image(corrector.classifier_)
    test = slice_and_stitch(truth, stitch_threshold=0.5, random_state=7)[0]
    candidates = corrector.screen(test, image=image)
    assert len(candidates) and all(c.image is not None for c in candidates)
    with pytest.raises(ValueError, match="uses the raw image.*image="):
        corrector.correct(test)
    fixed = corrector.correct(test, image=image)
    assert fixed.shape == test.shape and (fixed[test > 0] > 0).all()  # no loss
    assert len(np.unique(fixed)) < len(np.unique(test))  # some pieces joined
    save_model(corrector, tmp_path / "routed.json")
    loaded = load_model(tmp_path / "routed.json")
    assert uses_image(loaded.classifier_)
    np.testing.assert_array_equal(loaded.correct(test, image=image), fixed)
