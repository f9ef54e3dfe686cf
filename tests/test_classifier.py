"""MergeNet (the paper's MLP with skorch), MergeMLP and the pair pipeline."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from torch import nn

from sklearn_overseg import (
    GeoWassersteinFeatures,
    MergeMLP,
    MergeNet,
    TopologyFeatures,
    make_pair_pipeline,
    make_training_candidates,
)
from sklearn_overseg.datasets import make_tissue


@pytest.fixture(scope="module")
def tabular():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(160, 6))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0.3).astype(int)
    return X, y


@pytest.fixture(scope="module")
def pairs():
    """Labelled candidate pairs of two small synthetic volumes."""
    volumes = [make_tissue((24, 64, 64), n_cells=20, random_state=s) for s in (0, 1)]
    return make_training_candidates(volumes, n_rounds=2, random_state=0)


def _layers(net, kind):
    return [m for m in net.module_.modules() if isinstance(m, kind)]


# ------------------------------------------------------------- architecture
def test_default_is_the_papers_architecture(tabular):
    X, y = tabular
    net = MergeNet(max_epochs=1).fit(X, y)
    linear = _layers(net, nn.Linear)
    assert [(m.in_features, m.out_features) for m in linear] == [
        (6, 128), (128, 64), (64, 32), (32, 1)
    ]
    dropout = _layers(net, nn.Dropout)
    assert len(dropout) == 3 and all(m.p == pytest.approx(0.3) for m in dropout)
    assert len(_layers(net, nn.ReLU)) == 3
    assert isinstance(net.criterion_, nn.BCEWithLogitsLoss)  # sigmoid output unit
    assert isinstance(net.optimizer_, torch.optim.Adam)


def test_merge_mlp_returns_one_logit_per_row():
    module = MergeMLP(11)
    assert module(torch.zeros(5, 11)).shape == (5,)
    assert module(torch.zeros(1, 11)).shape == (1,)


def test_hidden_sizes_and_dropout_are_parameters(tabular):
    X, y = tabular
    net = MergeNet(module__hidden=(16, 8), module__dropout=0.1, max_epochs=1)
    net.fit(X, y)
    assert [m.out_features for m in _layers(net, nn.Linear)] == [16, 8, 1]
    assert all(m.p == pytest.approx(0.1) for m in _layers(net, nn.Dropout))
    net.set_params(module__hidden=(4,)).fit(X, y)
    assert [m.out_features for m in _layers(net, nn.Linear)] == [4, 1]
    cloned = clone(net)
    assert cloned.get_params()["module__hidden"] == (4,)
    assert not hasattr(cloned, "module_")


# ------------------------------------------------------------- determinism
def test_fit_is_deterministic_and_leaves_torch_rng_alone(tabular):
    X, y = tabular
    state = torch.get_rng_state()
    first = MergeNet(max_epochs=5, random_state=3).fit(X, y).predict_proba(X)
    assert torch.equal(torch.get_rng_state(), state), "global torch RNG advanced"
    second = MergeNet(max_epochs=5, random_state=3).fit(X, y).predict_proba(X)
    other = MergeNet(max_epochs=5, random_state=4).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(first, second)
    assert not np.allclose(first, other)


def test_refit_gives_the_same_model(tabular):
    X, y = tabular
    net = MergeNet(max_epochs=3, random_state=0)
    first = net.fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(net.fit(X, y).predict_proba(X), first)


# --------------------------------------------------------------- weighting
def test_balanced_class_weight_raises_minority_probabilities():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] > 1.2).astype(int)  # about 11% positives
    plain = MergeNet(max_epochs=15).fit(X, y)
    balanced = MergeNet(max_epochs=15, class_weight="balanced").fit(X, y)
    n_pos, n_neg = y.sum(), (y == 0).sum()
    assert balanced.pos_weight_ == pytest.approx(n_neg / n_pos)
    assert float(balanced.criterion_.pos_weight) == pytest.approx(n_neg / n_pos)
    assert plain.pos_weight_ is None
    p_plain = plain.predict_proba(X)[y == 1, 1].mean()
    p_balanced = balanced.predict_proba(X)[y == 1, 1].mean()
    assert p_balanced > p_plain


@pytest.mark.parametrize(
    "weight, expected", [(2.5, 2.5), ({0: 2.0, 1: 1.0}, 0.5), ({1: 3.0}, 3.0)]
)
def test_numeric_and_dict_class_weights(tabular, weight, expected):
    X, y = tabular
    net = MergeNet(max_epochs=1, class_weight=weight).fit(X, y)
    assert net.pos_weight_ == pytest.approx(expected)


@pytest.mark.parametrize("weight", ["auto", -1.0, 0, {0: -1.0}])
def test_bad_class_weight(tabular, weight):
    X, y = tabular
    with pytest.raises(ValueError, match="class_weight"):
        MergeNet(max_epochs=1, class_weight=weight).fit(X, y)


# ---------------------------------------------------------------- inputs
def test_float64_int_and_list_inputs(tabular):
    X, y = tabular
    ref = MergeNet(max_epochs=3).fit(X.astype(np.float32), y).predict_proba(X)
    from64 = MergeNet(max_epochs=3).fit(X, y).predict_proba(X.astype(np.float32))
    np.testing.assert_array_equal(ref, from64)
    X_int = np.round(X * 10).astype(np.int64)
    net = MergeNet(max_epochs=3).fit(X_int, y.astype(np.int32))
    proba = net.predict_proba(X_int.tolist())
    assert proba.shape == (len(X), 2) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-6)
    assert set(np.unique(net.predict(X_int))) <= {0, 1}


def test_nan_and_inf_features_are_refused(tabular):
    X, y = tabular
    bad = X.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MergeNet(max_epochs=1).fit(bad, y)
    net = MergeNet(max_epochs=1).fit(X, y)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        net.predict_proba(bad)


def test_targets_must_be_binary(tabular):
    X, y = tabular
    with pytest.raises(ValueError, match="binary"):
        MergeNet(max_epochs=1).fit(X, np.arange(len(X)) % 3)
    with pytest.raises(ValueError, match="Unknown label type"):
        MergeNet(max_epochs=1).fit(X, X[:, 0])
    with pytest.raises(ValueError, match="one class"):
        MergeNet(max_epochs=1).fit(X, np.ones(len(X), dtype=int))


def test_any_two_labels_with_the_second_as_positive(tabular):
    X, y = tabular
    words = np.where(y == 1, "merge", "keep")
    net = MergeNet(max_epochs=3).fit(X, words)
    assert net.classes_.tolist() == ["keep", "merge"]
    assert set(net.predict(X)) <= {"keep", "merge"}
    numeric = MergeNet(max_epochs=3).fit(X, y)
    np.testing.assert_allclose(net.predict_proba(X), numeric.predict_proba(X))
    assert numeric.classes_.tolist() == [0, 1]


def test_feature_count_is_checked(tabular):
    X, y = tabular
    net = MergeNet(max_epochs=1).fit(X, y)
    assert net.n_features_in_ == X.shape[1]
    with pytest.raises(ValueError, match="features"):
        net.predict_proba(X[:, :4])


def test_unfitted_net_raises_not_fitted(tabular):
    with pytest.raises(NotFittedError):
        MergeNet().predict_proba(tabular[0])


def test_partial_fit_keeps_training(tabular):
    X, y = tabular
    net = MergeNet(max_epochs=1)
    net.partial_fit(X, y)
    first = net.predict_proba(X)
    net.partial_fit(X[y == 1], y[y == 1])  # a batch of one class is fine
    assert not np.allclose(first, net.predict_proba(X))
    with pytest.raises(ValueError, match="features"):
        net.partial_fit(X[:, :3], y)


def test_decision_function_agrees_with_predict(tabular):
    X, y = tabular
    net = MergeNet(max_epochs=5).fit(X, y)
    logit = net.decision_function(X)
    assert logit.shape == (len(X),)
    np.testing.assert_array_equal(net.predict(X), (logit > 0).astype(int))


# --------------------------------------------------------- pair pipeline
def test_pair_pipeline_steps_and_parameters():
    pipe = make_pair_pipeline(
        reslicer=FunctionTransformer(),  # any transformer: it becomes step 0
        geo=GeoWassersteinFeatures(n_projections=4),
        topology=TopologyFeatures(feature_set="paper"),
        random_state=7,
    )
    assert [name for name, _ in pipe.steps] == ["reslice", "features", "scale", "clf"]
    assert pipe.get_params()["features__geo__n_projections"] == 4
    assert pipe.get_params()["features__topology__feature_set"] == "paper"
    assert isinstance(pipe.named_steps["clf"], MergeNet)
    assert pipe.named_steps["clf"].random_state == 7
    assert pipe.named_steps["clf"].get_params()["max_epochs"] == 60


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(classifier=StandardScaler()), r"'classifier' .* 'predict_proba'"),
        (dict(classifier=LogisticRegression(), image="yes"),
         r"'image' .* 'bool' .*ImageFeatures' or None. Got 'yes'"),
        (dict(classifier=LogisticRegression(), geo=LogisticRegression()),
         r"'geo' .* 'transform'"),
    ],
)
def test_pair_pipeline_rejects_wrong_parts(kwargs, match):
    with pytest.raises(ValueError, match="parameter of make_pair_pipeline"):
        make_pair_pipeline(**kwargs)
    with pytest.raises(ValueError, match=match):
        make_pair_pipeline(**kwargs)


@pytest.mark.parametrize(
    "classifier",
    [
        LogisticRegression(max_iter=500),
        HistGradientBoostingClassifier(max_iter=30, min_samples_leaf=3, random_state=0),
        MergeNet(max_epochs=10),
    ],
    ids=["logistic", "hist_gradient_boosting", "merge_net"],
)
def test_classifiers_drop_into_the_pair_pipeline(pairs, classifier):
    X, y, groups = pairs
    assert set(np.unique(y)) == {0, 1}
    train, test = groups == 0, groups == 1
    pipe = make_pair_pipeline(classifier).fit(X[train], y[train])
    proba = pipe.predict_proba(X[test])
    assert proba.shape == (int(test.sum()), 2)
    assert np.all((proba >= 0) & (proba <= 1))
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    # On held-out pairs the true splits score above the distinct cells.
    assert proba[y[test] == 1, 1].mean() > proba[y[test] == 0, 1].mean()
