"""The HTML review report, the decisions CSV and re-applying decisions."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from sklearn_overseg import CandidateScreener, MergeCorrector, contact_pairs
from sklearn_overseg._geometry import LabelGeometry
from sklearn_overseg.correction._merging import relabel_volume
from sklearn_overseg.datasets import make_tissue, oversegment
from sklearn_overseg.review import apply_decisions, read_decisions
from sklearn_overseg.review._report import write_review_report

# probabilities given to the four true splits: sure, unsure merged, unsure
# rejected (both within 0.2 of the threshold 0.5), and an unsure merge
SPLIT_PROBABILITIES = (0.97, 0.62, 0.41, 0.55)
N_FEATURES = 8


@pytest.fixture(scope="module")
def case():
    """A damaged tissue with hand-made review records (no model needed)."""
    truth = make_tissue((20, 64, 64), 16, mode="loose", random_state=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        volume, splits = oversegment(truth, n_splits=4, random_state=2)
    geometry = LabelGeometry.from_volume(volume)
    records = []
    for (a, b), p in zip(splits, SPLIT_PROBABILITIES):
        upper, lower = sorted((int(a), int(b)), key=lambda lab: geometry.z_extent(lab))
        records.append(dict(
            upper=upper, lower=lower, probability=p, merged=p >= 0.5, kind="axis",
            score=10.0, gap_start=geometry.z_extent(upper)[1],
            gap_stop=geometry.z_extent(lower)[0],
        ))
    split_set = {frozenset(map(int, s)) for s in splits}
    touching = [tuple(map(int, p)) for p in contact_pairs(volume)[0]
                if frozenset(map(int, p)) not in split_set]
    records.append(dict(upper=touching[0][0], lower=touching[0][1], probability=0.66,
                        merged=True, kind="contact", score=30.0, gap_start=None,
                        gap_stop=None))
    records.append(dict(upper=touching[1][0], lower=touching[1][1], probability=0.02,
                        merged=False, kind="contact", score=5.0, gap_start=None,
                        gap_stop=None))
    mapping = {r["lower"]: r["upper"] for r in records if r["merged"]}
    corrected = relabel_volume(volume, mapping)
    rng = np.random.default_rng(0)
    standardised = rng.normal(size=(len(records), N_FEATURES))
    standardised[:, 5] = 9.0  # the most unusual feature of every pair
    return dict(volume=volume, corrected=corrected, records=records,
                features=rng.random((len(records), N_FEATURES)),
                standardised=standardised,
                names=[f"feat_{j}" for j in range(N_FEATURES)])


@pytest.fixture(scope="module")
def report(case, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    page = write_review_report(
        case["volume"], case["corrected"], case["records"], out,
        features=case["features"], feature_names=case["names"],
        standardised_features=case["standardised"], voxel_size=(2, 1, 1),
        source="cells.tif",
    )
    return page


def _references(page: Path) -> list[str]:
    return re.findall(r"""(?:src|href)=['"]([^'"]+)['"]""", page.read_text())


def test_report_files_and_every_reference_exists(report):
    assert report.name == "index.html"
    refs = _references(report)
    assert "histogram.png" in refs and "decisions.csv" in refs
    for ref in refs:
        assert not ref.startswith(("/", "http", "file:")), ref
        assert (report.parent / ref).is_file(), ref
    # every merged or unsure pair has a figure; the sure rejection has none
    figures = sorted(p.name for p in (report.parent / "pairs").glob("*.png"))
    assert len(figures) == 5
    assert sum(ref.startswith("pairs/") for ref in refs) == 5


def test_report_images_are_drawn(report):
    histogram = mpimg.imread(report.parent / "histogram.png")
    assert histogram.shape[0] > 100 and histogram.std() > 0.05
    for png in (report.parent / "pairs").glob("*.png"):
        image = (mpimg.imread(png)[..., :3] * 255).astype(np.uint8)
        assert image.shape[0] > 200 and image.shape[1] > 400
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 30, png.name


def test_report_lists_unsure_before_sure_and_shows_features(report, case):
    text = report.read_text()
    unsure = text.index("Unsure pairs (4)")
    sure = text.index("Confident merges (1)")
    first_split = case["records"][0]
    assert text.index(f"Cells {first_split['upper']} + {first_split['lower']}") > sure
    assert unsure < sure
    assert text.count("feat_5") == 5  # top feature of every drawn pair
    assert "touching cells (no gap)" in text
    assert "overseg apply-decisions cells.tif" in text


def test_decisions_csv_holds_merged_and_unsure_pairs(report, case):
    rows = read_decisions(report.parent / "decisions.csv")
    kept = [r for r in case["records"] if r["merged"] or abs(r["probability"] - .5)
            <= .2]
    assert {(r["upper"], r["lower"]) for r in rows} == {
        (r["upper"], r["lower"]) for r in kept
    }
    assert [r["merged"] for r in rows] == [r["probability"] >= 0.5 for r in rows]
    gaps = [abs(r["probability"] - 0.5) for r in rows]
    assert gaps == sorted(gaps)  # most unsure first


def test_max_pairs_caps_the_figures_not_the_csv(case, tmp_path):
    page = write_review_report(case["volume"], case["corrected"], case["records"],
                               tmp_path, max_pairs=2)
    assert len(list((tmp_path / "pairs").glob("*.png"))) == 2
    assert "Showing 2 of 4" in page.read_text()
    assert "Features" not in page.read_text()
    assert len(read_decisions(tmp_path / "decisions.csv")) == 5


def test_report_rejects_bad_input(case, tmp_path):
    volume, corrected, records = case["volume"], case["corrected"], case["records"]
    with pytest.raises(ValueError, match="shape"):
        write_review_report(volume, corrected[:-1], records, tmp_path)
    with pytest.raises(ValueError, match="probability"):
        write_review_report(volume, corrected, [dict(upper=1, lower=2)], tmp_path)
    with pytest.raises(TypeError, match="list of dicts"):
        write_review_report(volume, corrected, "records", tmp_path)
    with pytest.raises(ValueError, match="one row per record"):
        write_review_report(volume, corrected, records, tmp_path,
                            features=case["features"][:2])
    alien = [dict(records[0], upper=10_000)]
    with pytest.raises(ValueError, match="10000"):
        write_review_report(volume, corrected, alien, tmp_path)


def test_read_decisions_from_a_spreadsheet(tmp_path):
    path = tmp_path / "edited.csv"
    path.write_text("\ufeffUpper;Lower;Probability;Merged\n"
                    "3;4;0.61;Yes\n\n5;6;0.4;\n7;8;;y\n", encoding="utf-8")
    rows = read_decisions(path)
    assert [(r["upper"], r["lower"], r["merged"]) for r in rows] == [
        (3, 4, True), (5, 6, False), (7, 8, True)
    ]
    assert rows[2]["probability"] is None and rows[0]["kind"] == "axis"
    path.write_text("upper,lower,merged\n3,four,yes\n")
    with pytest.raises(ValueError, match="line 2: lower"):
        read_decisions(path)


def _hand_corrector() -> MergeCorrector:
    corrector = MergeCorrector()
    corrector.screener_ = CandidateScreener(max_gap=2)
    return corrector


def test_apply_decisions_merges_and_rebuilds_only_approved_pairs():
    volume = np.zeros((9, 12, 12), dtype=np.uint16)
    volume[:3, 2:8, 2:8] = 1
    volume[5:, 2:8, 2:8] = 2          # layers 3-4 missing between 1 and 2
    volume[:, 9:11, 2:5] = 3
    volume[:, 9:11, 5:8] = 4          # 3 and 4 touch
    decisions = [dict(upper=1, lower=2, merged=True, probability=0.7),
                 dict(upper=3, lower=4, merged=False, kind="contact")]
    out = apply_decisions(volume, decisions, corrector=_hand_corrector())
    assert out.dtype == volume.dtype
    assert set(np.unique(out)) == {0, 1, 3, 4}
    assert (out[3:5] == 1).sum() > 0.5 * (volume[0] == 1).sum() * 2
    assert np.array_equal(volume[:, 9:], out[:, 9:])
    rejected = [dict(d, merged=False) for d in decisions]
    np.testing.assert_array_equal(
        apply_decisions(volume, rejected, corrector=_hand_corrector()), volume
    )
    decisions[1]["merged"] = True
    out = apply_decisions(volume, decisions, corrector=_hand_corrector())
    assert set(np.unique(out)) == {0, 1, 3}


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium")
def test_report_renders_in_a_browser(report, tmp_path):
    shot = tmp_path / "page.png"
    subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
         "--window-size=1200,1600", report.resolve().as_uri()],
        capture_output=True, timeout=180, check=True,
    )
    pixels = (mpimg.imread(shot)[..., :3] * 255).astype(np.int16)
    assert pixels.shape[:2] == (1600, 1200)
    # label images are the only large areas of saturated colour on the page;
    # text and badges alone give a fraction of a percent
    saturated = (pixels.max(axis=2) - pixels.min(axis=2)) > 40
    assert saturated.mean() > 0.01
    assert len(np.unique(pixels[saturated], axis=0)) > 500


def test_tilted_figure_fills_and_outlines_the_pieces_in_the_legend_colours(
        case, tmp_path, monkeypatch):
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure

    from sklearn_overseg.review import _figures

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, path: drawn.append(fig))
    record = next(r for r in case["records"] if r["kind"] == "contact")
    volume = case["volume"]
    _figures.draw_pair(volume, case["corrected"], LabelGeometry.from_volume(volume),
                       record, (2.0, 1.0, 1.0), tmp_path / "pair.png")
    (fig,) = drawn
    legend = {h.get_label().split()[0]: h for h in fig.legends[0].legend_handles}
    upper_colour = legend["upper"].get_facecolor()[:3]
    lower_colour = legend["lower"].get_facecolor()[:3]
    assert legend["upper"].get_edgecolor()[:3] == upper_colour
    assert upper_colour != lower_colour
    before = fig.axes[:4]  # the top row: the pieces before correction
    seen_upper = seen_lower = 0
    for ax in before:
        rgb = ax.images[0].get_array()
        seen_upper += np.all(np.isclose(rgb, upper_colour), axis=-1).sum()
        seen_lower += np.all(np.isclose(rgb, lower_colour), axis=-1).sum()
        outlines = [tuple(c.get_edgecolor()[0][:3]) for c in ax.collections]
        assert set(outlines) <= {tuple(upper_colour), tuple(lower_colour)}
    assert seen_upper > 0 and seen_lower > 0
    assert to_rgb(_figures._UPPER_COLOUR) == tuple(upper_colour)


def test_plain_words_column_and_raw_features_behind_a_toggle(case, tmp_path):
    names = ["geo__upper_emd_max", "geo__lower_emd_max", "geo__gap_emd",
             "topology__unimodal"]
    features = np.tile([2.0, 3.0, 1.0, 1.0], (len(case["records"]), 1))
    features[1] = [2.0, 3.0, 7.5, 0.0]  # a jump across the gap, a dipping curve
    page = write_review_report(
        case["volume"], case["corrected"], case["records"], tmp_path,
        features=features, feature_names=names,
    )
    text = page.read_text()
    cards = re.findall(r"<article.*?</article>", text, flags=re.S)
    assert len(cards) == 5
    for card in cards:
        assert "<th>in plain words</th>" in card
        # the raw names only inside the toggle
        plain, details = card.split("<details>")
        assert "geo__gap_emd" not in plain and "geo__gap_emd" in details
    second = case["records"][1]
    card = next(c for c in cards
                if f"Cells {second['upper']} + {second['lower']}" in c)
    assert re.search(r"shape changes smoothly across the gap</td><td><b>no</b>",
                     card)
    assert re.search(r"grows then shrinks, like one cell</td><td><b>no</b>", card)
    first = next(c for c in cards if "touching cells" in c)
    assert re.search(r"shape changes smoothly across the cut</td><td><b>yes</b>",
                     first)


def test_figure_with_the_raw_image_draws_it_first_with_the_pieces_outlined(
        case, tmp_path, monkeypatch):
    from matplotlib.colors import to_rgb
    from matplotlib.figure import Figure

    from sklearn_overseg.datasets import make_tissue_image
    from sklearn_overseg.review import _figures

    drawn = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, path: drawn.append(fig))
    volume = case["volume"]
    raw = make_tissue_image(volume, random_state=0)
    record = case["records"][0]
    _figures.draw_pair(volume, case["corrected"], LabelGeometry.from_volume(volume),
                       record, (2.0, 1.0, 1.0), tmp_path / "pair.png", image=raw)
    (fig,) = drawn
    assert len(fig.axes) == 12  # image, before, after: 4 panels each
    for ax in fig.axes[:4]:
        (shown,) = ax.images
        assert shown.get_array().ndim == 2  # grey values, not label colours
        assert shown.get_cmap().name == "gray"
        outlines = {tuple(c.get_edgecolor()[0][:3]) for c in ax.collections}
        assert outlines <= {to_rgb(_figures._UPPER_COLOUR),
                            to_rgb(_figures._LOWER_COLOUR)}
    assert fig.axes[0].get_ylabel() == "image"
    # the XZ section of the image shows the pair's own signal, not a blank
    assert np.ptp(fig.axes[3].images[0].get_array()) > 0


def test_report_with_the_raw_image_checks_it(case, tmp_path):
    from sklearn_overseg.datasets import make_tissue_image

    volume = case["volume"]
    raw = make_tissue_image(volume, random_state=0)
    page = write_review_report(volume, case["corrected"], case["records"][:1],
                               tmp_path / "ok", image=raw)
    (figure,) = (page.parent / "pairs").glob("*.png")
    height, width = mpimg.imread(figure).shape[:2]
    assert height > 0.6 * width  # three rows of panels
    with pytest.raises(ValueError, match="shape"):
        write_review_report(volume, case["corrected"], case["records"],
                            tmp_path / "bad", image=raw[:-1])
    bad = raw.astype(np.float32)
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        write_review_report(volume, case["corrected"], case["records"],
                            tmp_path / "nan", image=bad)


def test_stitch_split_card_says_where_the_pieces_meet(tmp_path):
    """A gap-0 pair (no layer between its pieces) is no "missing layers" pair."""
    from sklearn_overseg.datasets import slice_and_stitch

    truth = make_tissue((16, 48, 48), 8, mode="nuclei", random_state=0)
    volume, pairs = slice_and_stitch(truth, stitch_threshold=0.9, random_state=0)
    geometry = LabelGeometry.from_volume(volume)
    records = []
    for a, b in pairs:
        upper, lower = sorted((int(a), int(b)), key=lambda lab: geometry.z_extent(lab))
        meet = geometry.z_extent(upper)[1]
        if meet == geometry.z_extent(lower)[0]:
            records.append(dict(
                upper=upper, lower=lower, probability=0.9, merged=True,
                kind="axis", score=1.0, gap_start=meet, gap_stop=meet,
            ))
    assert records, "the stitcher left no piece directly below another"
    mapping = {r["lower"]: r["upper"] for r in records}
    page = write_review_report(
        volume, relabel_volume(volume, mapping), records, tmp_path
    ).read_text()
    first = records[0]["gap_start"]
    assert f"stitch split: z = {first - 1} directly above z = {first}" in page
    assert "missing layer" not in page
