"""Tilted reslicing of contact candidates (TiltedReslicer, reslice_pair)."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from joblib import parallel_config
from scipy import ndimage as ndi
from sklearn.base import clone

from sklearn_overseg._candidates import LOWER, UPPER, Candidate, CandidateSet
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.screening._screener import CandidateScreener
from sklearn_overseg.tilted import _contact_geometry, _reslice_core
from sklearn_overseg.tilted import _plane_fit as _contact_plane
from sklearn_overseg.tilted import _sampling as _reslice_sampling
from sklearn_overseg.tilted._reslice import (
    TiltedReslicer,
    fit_contact_plane,
    reslice_pair,
)

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ANISOTROPIC = (2.0, 0.6, 0.6)


def random_normal(rng):
    normal = rng.normal(size=3)
    return normal / np.linalg.norm(normal)


def cut_ellipsoid(voxel_size, radii, normal, offset=0.0, rugged=None):
    """Ellipsoid (physical radii) cut by a plane; code 2 on the normal's side.

    Returns the crop and a point of the plane (physical crop coordinates).
    ``rugged`` is an optional function of the physical points added to the
    signed distance, to make the cut surface uneven.
    """
    voxel_size, radii = np.asarray(voxel_size), np.asarray(radii, dtype=float)
    shape = tuple(int(np.ceil(2 * r / v)) + 4 for r, v in zip(radii, voxel_size))
    points = np.indices(shape).reshape(3, -1).T * voxel_size
    centre = (np.array(shape) - 1) / 2 * voxel_size
    inside = (((points - centre) / radii) ** 2).sum(axis=1) <= 1
    signed = (points - centre) @ normal - offset
    if rugged is not None:
        signed = signed + rugged(points)
    codes = np.where(inside, np.where(signed > 0, LOWER, UPPER), 0)
    return codes.astype(np.uint8).reshape(shape), centre + offset * normal


def contact(crop, voxel_size=(1.0, 1.0, 1.0), origin=(0, 0, 0)):
    return Candidate(
        0, 3, 8, crop, origin=origin, voxel_size=voxel_size, kind="contact", score=1.0
    )


def sample_points(out, code):
    """Physical positions (volume coordinates) of the output pixels of ``code``."""
    frame, step = out.meta["frame"], out.meta["spacing"]
    index = np.argwhere(out.crop == code) * step
    return out.meta["grid_origin"] + index @ frame


def angle(a, b):
    return np.degrees(np.arccos(np.clip(a @ b, -1.0, 1.0)))


@pytest.mark.parametrize("voxel_size", [(1.0, 1.0, 1.0), ANISOTROPIC])
def test_pca_normal_recovers_planted_plane(voxel_size):
    rng = np.random.default_rng(0)
    for _ in range(6):
        normal = random_normal(rng)
        offset = rng.uniform(-3, 3)
        crop, point = cut_ellipsoid(voxel_size, (12, 10, 9), normal, offset)
        centroid, fitted = fit_contact_plane(crop, voxel_size)
        # Signed angle: the fitted normal also points from A (1) to B (2).
        assert angle(fitted, normal) < 3.0
        assert abs((centroid - point) @ normal) < 0.5 * min(voxel_size)


def test_pca_normal_of_rugged_cut():
    rng = np.random.default_rng(1)
    for _ in range(4):
        normal = random_normal(rng)
        waves = rng.uniform(0.3, 0.6, 3)

        def bumps(points):
            return 1.5 * np.sin(points @ waves)

        crop, _ = cut_ellipsoid(ANISOTROPIC, (14, 14, 12), normal, rugged=bumps)
        assert angle(fit_contact_plane(crop, ANISOTROPIC)[1], normal) < 10.0


def test_reslice_gap_layer_lies_on_the_cut():
    rng = np.random.default_rng(2)
    for _ in range(3):
        normal = random_normal(rng)
        crop, point = cut_ellipsoid(ANISOTROPIC, (12, 12, 12), normal)
        source = contact(crop, ANISOTROPIC, origin=(5, 7, 9))
        before = crop.copy()
        out = reslice_pair(source)
        np.testing.assert_array_equal(crop, before)  # input untouched
        g = out.gap[0]
        assert out.kind == "tilted" and out.gap == (g, g + 1)
        assert out.crop.dtype == np.uint8 and set(np.unique(out.crop)) == {0, 1, 2}
        assert out.voxel_size == (0.6, 0.6, 0.6) and out.origin == (5, 7, 9)
        assert (out.volume_index, out.upper, out.lower, out.score) == (0, 3, 8, 1.0)
        # A only before the gap, B only after it, nothing in it, no empty ends.
        assert not np.any(out.crop[:g] == LOWER) and not np.any(out.crop[g + 1 :] == 1)
        assert not out.crop[g].any()
        assert out.crop[0].any() and out.crop[-1].any()
        # In volume coordinates, every A pixel is on A's side of the planted
        # plane and every B pixel on B's side.
        shift = np.array(source.origin) * ANISOTROPIC
        for code, sign in ((UPPER, -1), (LOWER, 1)):
            distance = (sample_points(out, code) - shift - point) @ normal
            assert np.all(sign * distance > 0)
        # The layers next to the gap are (nearly) the full section of the
        # ball through its centre: pi * r^2.
        section = np.pi * 12**2 / 0.6**2
        for layer in (g - 1, g + 1):
            assert 0.85 < np.count_nonzero(out.crop[layer]) / section < 1.1


def test_resliced_pixels_come_from_their_fragment():
    normal = random_normal(np.random.default_rng(3))
    crop, _ = cut_ellipsoid((1.0, 1.0, 1.0), (10, 9, 8), normal, 1.0)
    out = reslice_pair(contact(crop), fill_holes=False)
    for code in (UPPER, LOWER):
        index = np.round(sample_points(out, code)).astype(int)
        assert np.all(crop[tuple(index.T)] == code)


def test_cut_along_voxel_faces_drops_first_layer_of_b():
    crop = np.zeros((20, 8, 8), dtype=np.uint8)
    crop[:10, 1:7, 1:7] = UPPER
    crop[10:, 1:7, 1:7] = LOWER
    out = reslice_pair(contact(crop))
    assert out.meta["plane_fit"] == "pca"
    np.testing.assert_allclose(out.meta["normal"], [1, 0, 0], atol=1e-9)
    assert out.gap == (10, 11)
    np.testing.assert_array_equal(out.crop[:10], crop[:10, 1:7, 1:7])
    np.testing.assert_array_equal(out.crop[11:], crop[11:, 1:7, 1:7])


def test_max_layers_bounds_each_side():
    crop = np.zeros((40, 6, 6), dtype=np.uint8)
    crop[:25, 1:5, 1:5] = UPPER
    crop[25:, 1:5, 1:5] = LOWER
    out = reslice_pair(contact(crop), max_layers=5)
    assert out.gap == (5, 6) and len(out.crop) == 11


def test_fill_holes_fills_only_background_holes():
    crop = np.zeros((12, 12, 12), dtype=np.uint8)
    crop[1:6, 2:10, 2:10] = UPPER
    crop[6:11, 2:10, 2:10] = LOWER
    crop[1:6, 5:7, 5:7] = 0  # a tube through A along the normal
    crop[2:4, 3, 3] = LOWER  # an island of B inside A: must not become A
    filled = reslice_pair(contact(crop)).crop
    open_ = reslice_pair(contact(crop), fill_holes=False).crop
    assert np.count_nonzero(open_[:5] == 0) == 5 * 4 + 2  # tube and island
    # The tube is filled; the B island is dropped from A's side, not filled.
    assert np.count_nonzero(filled[:5] == 0) == 2
    assert not filled[1:3, 1, 1].any()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("one_face", "centroids"),
        ("line", "line"),
        ("apart", "centroids"),
        ("voxel_inside", "z"),
    ],
)
def test_degenerate_contacts_take_the_fallback(case, expected):
    crop = np.zeros((10, 14, 14), dtype=np.uint8)
    crop[5:9, 1:13, 1:13] = LOWER
    if case == "one_face":
        crop[4, 4, 4] = UPPER
    elif case == "line":
        crop[1:5, 6, 1:13] = UPPER  # a thin wall touching B along a line
    elif case == "apart":
        crop[0:2, 3:6, 3:6] = UPPER  # not touching
    else:  # one voxel of B in the middle of A: the centroids coincide
        crop[5:10, 1:14, 1:14] = UPPER
        crop[7, 7, 7] = LOWER
    out = reslice_pair(contact(crop))
    assert out.meta["plane_fit"] == expected
    assert np.isclose(np.linalg.norm(out.meta["normal"]), 1.0)
    assert out.fragment(UPPER).any() and out.fragment(LOWER).any()


def test_sheet_thinner_than_a_layer_is_rescued():
    crop = np.zeros((10, 10, 10), dtype=np.uint8)
    crop[1:6, 2:8, 2:8] = UPPER
    crop[6, 2:8, 2:8] = LOWER  # one voxel thick: falls in the gap layer
    out = reslice_pair(contact(crop))
    assert out.meta["rescued_fragments"] == (LOWER,)
    assert out.fragment(UPPER).any() and out.fragment(LOWER).sum() == 36


def test_bad_input_raises_clear_errors():
    crop = np.zeros((4, 4, 4), dtype=np.uint8)
    crop[:2] = UPPER
    with pytest.raises(ValueError, match="code 2"):
        reslice_pair(contact(crop))
    with pytest.raises(ValueError, match="already has a gap"):
        reslice_pair(Candidate(0, 1, 2, crop, gap=(2, 3)))
    with pytest.raises(TypeError, match="Candidate"):
        reslice_pair(crop)
    crop[2:] = LOWER
    with pytest.raises(ValueError, match="voxel_size"):
        fit_contact_plane(crop, (1.0, 0.0, 1.0))
    with pytest.raises(TypeError, match="integer codes"):
        fit_contact_plane(crop.astype(float))
    with pytest.raises(ValueError, match=r"'max_layers' parameter of reslice_pair "
                       r"must be an int in the range \[1, inf\) or None\. Got 0"):
        reslice_pair(contact(crop), max_layers=0)
    with pytest.raises(ValueError, match=r"'spacing' parameter of reslice_pair must "
                       r"be a float in the range \(0\.0, inf\) or None"):
        reslice_pair(contact(crop), spacing=0.0)
    with pytest.raises(TypeError, match=r"'min_contact_points' parameter of "
                       r"fit_contact_plane must be an int in the range \[3, inf\)"):
        fit_contact_plane(crop, min_contact_points=2.5)
    with pytest.raises(ValueError, match=r"'min_contact_points' parameter of "
                       r"reslice_pair must be an int in the range \[3, inf\)"):
        reslice_pair(contact(crop), min_contact_points=2)
    with pytest.raises(TypeError, match="CandidateSet"):
        TiltedReslicer().fit_transform([contact(crop)])
    with pytest.raises(ValueError, match="spacing"):
        TiltedReslicer(spacing=-1.0).fit_transform(CandidateSet([contact(crop)]))
    with pytest.raises(ValueError, match="min_contact_points"):
        TiltedReslicer(min_contact_points=1).fit(CandidateSet())


@pytest.fixture(scope="module")
def tilted_tissue():
    tissue = make_tissue((24, 64, 64), n_cells=20, random_state=0)
    flawed, pairs = oversegment(tissue, 4, mode="tilted", random_state=0)
    return CandidateScreener(mode="contact").fit_transform(flawed), pairs


def test_axis_candidates_pass_through_unchanged():
    tissue = make_tissue((24, 64, 64), n_cells=20, random_state=1)
    flawed, _ = oversegment(tissue, 4, random_state=1)
    cands = CandidateScreener(mode="both").fit_transform(flawed)
    out = TiltedReslicer().fit_transform(cands)
    assert len(out) == len(cands) and {"axis", "contact"} <= set(cands.kinds)
    for before, after in zip(cands, out):
        assert after.key == before.key
        if before.kind == "axis":
            assert after is before
        else:
            assert after.kind == "tilted" and after.gap is not None
    again = TiltedReslicer().transform(out)
    assert all(a is b for a, b in zip(again, out))


def test_transform_is_parallel_invariant_and_picklable(tilted_tissue):
    cands, _ = tilted_tissue
    reslicer = TiltedReslicer(max_layers=32)
    serial = reslicer.fit_transform(cands[:12])
    with parallel_config(backend="threading"):  # no process start-up in tests
        parallel = clone(reslicer).set_params(n_jobs=2).fit_transform(cands[:12])
    for a, b in zip(serial, parallel):
        np.testing.assert_array_equal(a.crop, b.crop)
        assert a.gap == b.gap and a.key == b.key
    back = pickle.loads(pickle.dumps((reslicer, serial)))
    assert back[0].get_params() == reslicer.get_params()
    np.testing.assert_array_equal(back[1][3].crop, serial[3].crop)
    assert clone(reslicer).get_params()["max_layers"] == 32
    assert TiltedReslicer().__sklearn_tags__().input_tags.two_d_array is False


def test_resliced_candidates_give_finite_features(tilted_tissue):
    geo_features = pytest.importorskip("sklearn_overseg.features._geo_features")
    topology = pytest.importorskip("sklearn_overseg.features._topology")
    cands, pairs = tilted_tissue
    truth = {tuple(sorted(p)) for p in pairs.tolist()}
    keep = [tuple(sorted(c.key[1:])) in truth for c in cands]
    subset = cands[np.flatnonzero(keep).tolist() + list(range(10))]
    out = TiltedReslicer().fit_transform(subset)
    geo = geo_features.GeoWassersteinFeatures().fit_transform(out)
    topo = topology.TopologyFeatures().fit_transform(out)
    assert np.isfinite(geo).all() and np.isfinite(topo).all()


@pytest.mark.shared_data
@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="../shared/data is absent")
def test_real_cells_cut_by_planes_have_small_gap_emd():
    geo_features = pytest.importorskip("sklearn_overseg.features._geo_features")
    data = np.load(SHARED_DATA / "ovule_plantseg.npz")
    voxel_size = tuple(data["voxel_size_um"])
    flawed, pairs = oversegment(
        data["labels"], 10, mode="tilted", voxel_size=voxel_size, random_state=0
    )
    screener = CandidateScreener(mode="contact", min_contact=20)
    cands = screener.fit_transform(flawed, voxel_size=voxel_size)
    truth = {tuple(sorted(p)) for p in pairs.tolist()}
    is_cut = np.array([tuple(sorted(c.key[1:])) in truth for c in cands])
    assert is_cut.sum() == len(pairs)
    # The true cuts and 40 pairs of distinct touching cells.
    keep = np.flatnonzero(is_cut | (np.cumsum(~is_cut) <= 40))
    out = TiltedReslicer().fit_transform(cands[keep])
    is_cut = is_cut[keep]
    assert all(c.fragment(UPPER).any() and c.fragment(LOWER).any() for c in out)
    geo = geo_features.GeoWassersteinFeatures().fit(out)
    gap = geo.transform(out)[:, list(geo.get_feature_names_out()).index("gap_emd")]
    assert np.median(gap[is_cut]) < 0.5 * np.median(gap[~is_cut])


# ------------------------------------ fast paths against plain references
# The sampler, hole filling and geometry helpers avoid whole-crop passes; these
# tests check them against the straightforward implementations they replace.
def random_pair(rng, voxel_size, clip_edges=False):
    """A rugged, tilted cut of a noisy ellipsoid (optionally cut by the crop)."""
    normal = random_normal(rng)
    radii = rng.uniform(5, 9, 3)

    def bumps(points):
        return 1.2 * np.sin(points @ rng.normal(size=3))

    crop, _ = cut_ellipsoid(voxel_size, radii, normal, rng.uniform(-2, 2), bumps)
    noise = rng.random(crop.shape) < 0.04
    crop[noise & (crop > 0)] = 0  # pinholes
    if clip_edges:  # the pair reaches the crop's faces
        crop = np.ascontiguousarray(crop[3:-2, 1:, :-3])
    return crop


def reference_samples(codes, voxel_size, centroid, frame, step, lo, shape):
    matrix = frame.T * step / voxel_size[:, None]
    shift = (lo + _reslice_sampling._TIE_BREAK) * step
    offset = (centroid + frame.T @ shift) / voxel_size
    return ndi.affine_transform(
        codes, matrix, offset, output_shape=shape, order=0,
        mode="grid-constant", cval=0, prefilter=False,
    )


@pytest.mark.parametrize("voxel_size", [(1.0, 1.0, 1.0), ANISOTROPIC, (0.4, 1.0, 0.7)])
def test_block_sampler_equals_affine_transform(voxel_size):
    rng = np.random.default_rng(11)
    voxel_size = np.asarray(voxel_size)
    for trial in range(6):
        codes = random_pair(rng, voxel_size, clip_edges=trial % 2 == 1)
        if not (np.any(codes == UPPER) and np.any(codes == LOWER)):
            continue
        centroid, normal = fit_contact_plane(codes, voxel_size)
        frame = _contact_plane._frame(normal)
        step = voxel_size.min() * rng.choice([1.0, 0.7, 1.6])
        max_layers = [None, 3][trial % 3 == 2]
        sampled, lo = _reslice_sampling._sample_in_frame(
            codes, voxel_size, centroid, frame, step, max_layers
        )
        expected = reference_samples(
            codes, voxel_size, centroid, frame, step, lo, sampled.shape
        )
        np.testing.assert_array_equal(sampled, expected)
        assert sampled.flags.c_contiguous and sampled.any()


def reference_fill(codes, code):
    in_layer = np.zeros((3, 3, 3), dtype=bool)  # no connection across layers
    in_layer[1] = ndi.generate_binary_structure(2, 1)
    regions, n = ndi.label(codes != code, structure=in_layer)
    open_region = np.zeros(n + 1, dtype=bool)
    open_region[0] = True
    for edge in (regions[:, 0], regions[:, -1], regions[:, :, 0], regions[:, :, -1]):
        open_region[edge] = True
    codes[~open_region[regions] & (codes == 0)] = code


def test_hole_filling_in_the_fragment_box_equals_whole_layers():
    rng = np.random.default_rng(12)
    for _ in range(20):
        shape = rng.integers(3, 14, 3)
        codes = rng.choice(3, size=shape, p=[0.3, 0.5, 0.2]).astype(np.uint8)
        codes[:, :2] = 0  # room around the fragment in some layers
        expected = codes.copy()
        reference_fill(expected, UPPER)
        _reslice_core._fill_layer_holes(codes, UPPER)
        np.testing.assert_array_equal(codes, expected)
    empty = np.zeros((3, 4, 4), dtype=np.uint8)
    _reslice_core._fill_layer_holes(empty, LOWER)
    assert not empty.any()


def test_fast_geometry_helpers_equal_plain_references():
    rng = np.random.default_rng(13)
    voxel_size = np.asarray(ANISOTROPIC)
    for trial in range(4):
        codes = random_pair(rng, voxel_size, clip_edges=trial % 2 == 1)
        mask = codes > 0
        # Column ends: argmax from both ends of every non-empty z column.
        y, x = np.nonzero(mask.any(axis=0))
        first = np.argmax(mask, axis=0)[y, x]
        last = (len(mask) - 1 - np.argmax(mask[::-1], axis=0))[y, x]
        expected = np.stack(
            [np.concatenate([first, last]), np.tile(y, 2), np.tile(x, 2)], axis=1
        )
        np.testing.assert_array_equal(_reslice_sampling._column_ends(mask), expected)
        # Centroid and contact faces.
        upper = codes == UPPER
        np.testing.assert_array_equal(
            _contact_plane._centroid(upper), np.argwhere(upper).sum(0) / upper.sum()
        )
        centres, areas = _contact_plane._contact_faces(codes, voxel_size)
        expected = []
        for axis in range(3):
            n = codes.shape[axis]
            before = np.take(codes, np.arange(n - 1), axis=axis).astype(np.int16)
            index = np.argwhere(before * np.take(codes, np.arange(1, n), axis) == 2)
            index = index.astype(float)
            index[:, axis] += 0.5
            expected.append(index * voxel_size)
        np.testing.assert_array_equal(centres, np.concatenate(expected))
        assert len(areas) == len(centres)
        # Line ends within the bounding box, and the slab distances in a box.
        for mask in (upper, np.zeros_like(upper)):
            keep = mask.copy()
            for axis in range(3):
                inner = np.zeros_like(mask)
                index = [slice(None)] * 3
                index[axis] = slice(1, -1)
                lo_, hi_ = [slice(None)] * 3, [slice(None)] * 3
                lo_[axis], hi_[axis] = slice(None, -2), slice(2, None)
                inner[tuple(index)] = mask[tuple(lo_)] & mask[tuple(hi_)]
                keep &= ~inner
            np.testing.assert_array_equal(
                _contact_geometry._line_ends(mask), np.argwhere(keep)
            )
        box = (slice(2, 7), slice(1, None), slice(0, 4))
        distance = _contact_geometry._signed_distance
        args = (codes.shape, voxel_size, np.array([3.0, 2.0, 1.0]), random_normal(rng))
        np.testing.assert_array_equal(distance(*args, box), distance(*args)[box])


def test_contact_crop_is_the_input_when_it_holds_only_pair_codes():
    crop, _ = cut_ellipsoid((1.0, 1.0, 1.0), (6, 6, 6), np.array([0.0, 0.6, 0.8]))
    out = reslice_pair(contact(crop))
    assert out.meta["contact_crop"] is crop
    wide = crop.astype(np.uint16)
    assert reslice_pair(contact(wide)).meta["contact_crop"] is wide
    noisy = crop.copy()
    noisy[0, 0, 0] = 3  # a noisy partial mask: reduced to codes 0-2
    contact_crop = reslice_pair(contact(noisy)).meta["contact_crop"]
    assert contact_crop.dtype == np.uint8 and contact_crop.max() == LOWER
    np.testing.assert_array_equal(contact_crop, crop)
    np.testing.assert_array_equal(reslice_pair(contact(noisy)).crop, out.crop)


def test_hole_filling_with_more_regions_than_uint16_labels():
    # A fine checkerboard has more regions than uint16 labels can count: the
    # labelling falls back to the default integer type.
    codes = np.zeros((2, 520, 520), dtype=np.uint8)
    codes[:, 1:-1, 1:-1] = UPPER
    codes[:, 2:-2:2, 2:-2:2] = 0  # 66 049 one-pixel holes per layer
    codes[1, 5, 2:-2] = LOWER  # a row of the other fragment, kept
    expected = codes.copy()
    reference_fill(expected, UPPER)
    _reslice_core._fill_layer_holes(codes, UPPER)
    np.testing.assert_array_equal(codes, expected)
    assert (codes == UPPER).sum() > (expected.size * 0.9)


def test_fragment_hull_cache_equals_the_plain_hull():
    # A fragment's hull is computed in its own box and kept between pairs:
    # the same volume (to rounding) and vertices as in each pair's crop.
    rng = np.random.default_rng(14)
    voxel_size = np.asarray(ANISOTROPIC)
    cache = {}
    for trial in range(3):
        codes = random_pair(rng, voxel_size)
        mask = codes == UPPER
        for shift in ((0, 0, 0), (2, 5, 1)):  # the same fragment, another crop
            crop = np.pad(mask, [(s, 1) for s in shift])
            volume, vertices = _contact_geometry._hull(
                _contact_geometry._line_ends(crop), voxel_size
            )
            for store in (None, cache):
                got, got_vertices = _contact_geometry._fragment_hull(
                    crop, voxel_size, store
                )
                np.testing.assert_allclose(got, volume, rtol=1e-12)
                np.testing.assert_array_equal(got_vertices, vertices)
    assert len(cache) == 3
    empty = np.zeros((3, 3, 3), dtype=bool)
    assert _contact_geometry._fragment_hull(empty, voxel_size, cache)[0] == 0.0


def test_contact_area_recorded_by_the_reslicer_equals_the_measured_one():
    rng = np.random.default_rng(15)
    voxel_size = np.asarray(ANISOTROPIC)
    for _ in range(3):
        codes = random_pair(rng, voxel_size)
        out = reslice_pair(contact(codes, voxel_size))
        assert out.meta["contact_area"] == _contact_geometry._contact_area(
            out.meta["contact_crop"], voxel_size
        )
