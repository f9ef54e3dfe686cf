"""Estimators to JSON plus arrays and back, for classes of an allow-list only.

:class:`ModelWriter` describes an estimator as JSON-able values (classes by
name, parameters, fitted attributes ending in ``_``), putting arrays aside
for an ``.npz`` file; :class:`ModelReader` rebuilds it, naming only classes
of the allow-list, which is resolved on first use so that this module
imports none of them (nor torch). A :class:`MergeNet` travels as its skorch
parameters and its network weights.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["MissingEntry", "ModelReader", "ModelWriter"]


#: Estimator classes a model file may name: class name -> "module:attribute".
#: Resolved on first use, so that this module imports none of them (nor torch).
_ALLOWED = {
    "Pipeline": "sklearn.pipeline:Pipeline",
    "FeatureUnion": "sklearn.pipeline:FeatureUnion",
    "StandardScaler": "sklearn.preprocessing:StandardScaler",
    "LogisticRegression": "sklearn.linear_model:LogisticRegression",
    "BaggingClassifier": "sklearn.ensemble:BaggingClassifier",
    "CalibratedClassifierCV": "sklearn.calibration:CalibratedClassifierCV",
    "_CalibratedClassifier": "sklearn.calibration:_CalibratedClassifier",
    "_SigmoidCalibration": "sklearn.calibration:_SigmoidCalibration",
    "IsotonicRegression": "sklearn.isotonic:IsotonicRegression",
    "FrozenEstimator": "sklearn.frozen:FrozenEstimator",
    "GroupKFold": "sklearn.model_selection:GroupKFold",
    "KFold": "sklearn.model_selection:KFold",
    "StratifiedKFold": "sklearn.model_selection:StratifiedKFold",
    "MergeNet": "sklearn_overseg.models:MergeNet",
    "MergeMLP": "sklearn_overseg.models:MergeMLP",
    "MergeCorrector": "sklearn_overseg.correction:MergeCorrector",
    "FeatureRange": "sklearn_overseg.models:FeatureRange",
    "CandidateScreener": "sklearn_overseg.screening:CandidateScreener",
    "GeoWassersteinFeatures": "sklearn_overseg.features:GeoWassersteinFeatures",
    "TopologyFeatures": "sklearn_overseg.features:TopologyFeatures",
    "FragmentExtentFeatures": "sklearn_overseg.features:FragmentExtentFeatures",
    "GapRoutedClassifier": "sklearn_overseg.models:GapRoutedClassifier",
    "ImageFeatures": "sklearn_overseg.features:ImageFeatures",
    "PairContextFeatures": "sklearn_overseg.features:PairContextFeatures",
    "ClippedStandardScaler": "sklearn_overseg.features:ClippedStandardScaler",
    "ContactFeatures": "sklearn_overseg.tilted:ContactFeatures",
    "TiltedReslicer": "sklearn_overseg.tilted:TiltedReslicer",
}


def _resolve(name: str) -> type:
    """The allowed class called ``name`` (imported on first use)."""
    import importlib

    module, attribute = _ALLOWED[name].split(":")
    return getattr(importlib.import_module(module), attribute)


def _is_allowed(cls: type) -> bool:
    """Whether ``cls`` is the allowed class of its name (no import of others)."""
    name = cls.__name__
    if name not in _ALLOWED:
        return False
    module = _ALLOWED[name].split(":")[0]
    # cheap test first: a class lives in its allowed module's top package
    same_package = cls.__module__.split(".")[0] == module.split(".")[0]
    return same_package and _resolve(name) is cls


#: Fitted attributes rebuilt on load rather than saved (class -> names).
_REBUILT = {"IsotonicRegression": ("f_",)}
#: Plain objects saved by their constructor arguments (class -> names).
_PLAIN = {
    "_CalibratedClassifier": ("estimator", "calibrators", "classes", "method"),
    "GroupKFold": ("n_splits", "shuffle", "random_state"),
    "KFold": ("n_splits", "shuffle", "random_state"),
    "StratifiedKFold": ("n_splits", "shuffle", "random_state"),
}


def _is_merge_net(value) -> bool:
    """Whether ``value`` is a MergeNet, without importing torch to find out."""
    return type(value).__name__ == "MergeNet" and _is_allowed(type(value))


class ModelWriter:
    """Describes estimators as JSON-able values; arrays collect in ``arrays``."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def array(self, value: np.ndarray) -> dict:
        key = f"a{len(self.arrays)}"
        self.arrays[key] = np.asarray(value)
        return {"__array__": key}

    def value(self, v):
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return self.array(v)
        if isinstance(v, (list, tuple)):
            items = [self.value(x) for x in v]
            return {"__tuple__": items} if isinstance(v, tuple) else items
        if _is_merge_net(v):
            return self.net(v)
        if isinstance(v, BaseEstimator):
            return self.estimator(v)
        if type(v).__name__ in _PLAIN and _is_allowed(type(v)):
            return self.plain(v)
        if isinstance(v, type) and _is_allowed(v):
            return {"__class__": v.__name__}
        raise TypeError(
            f"cannot save a {type(v).__name__} in the safe model format; "
            "use joblib.dump for arbitrary estimators"
        )

    def estimator(self, est: BaseEstimator) -> dict:
        name = type(est).__name__
        if not _is_allowed(type(est)):
            raise TypeError(
                f"{name} is not supported by the safe model format; "
                "use joblib.dump instead"
            )
        params = {k: self.value(v) for k, v in est.get_params(deep=False).items()}
        skip = _REBUILT.get(name, ())
        fitted = {
            k: self.value(v)
            for k, v in vars(est).items()
            if k.endswith("_") and not k.startswith("_") and k not in skip
        }
        return {"class": name, "params": params, "fitted": fitted}

    def plain(self, obj) -> dict:
        """A non-estimator object of the allow-list, by its constructor args."""
        name = type(obj).__name__
        params = {k: self.value(getattr(obj, k)) for k in _PLAIN[name]}
        return {"class": name, "params": params}

    def net(self, net) -> dict:
        from ._classifier import MergeNet

        defaults = MergeNet().get_params(deep=False)
        params = {}
        for k, v in net.get_params(deep=False).items():
            if k.startswith("_"):
                continue
            if isinstance(v, (type(None), bool, int, float, str, tuple, list)):
                params[k] = self.value(v)
            elif k in defaults and v is defaults[k]:
                continue
            elif isinstance(v, type) and _is_allowed(v):
                params[k] = {"__class__": v.__name__}
            else:
                raise TypeError(
                    f"MergeNet parameter {k}={v!r} is not supported by the safe "
                    "model format; use joblib.dump instead"
                )
        fitted = {}
        if getattr(net, "initialized_", False):
            fitted = {
                "n_features_in_": int(net.n_features_in_),
                "pos_weight_": net.pos_weight_,
                "classes_": self.array(net.classes_),
                "state_dict": {
                    k: self.array(t.detach().cpu().numpy())
                    for k, t in net.module_.state_dict().items()
                },
            }
        return {"class": "MergeNet", "params": params, "fitted": fitted}


class MissingEntry(Exception):
    """A model file lacks an entry it needs; the message says which, in words."""


#: what each entry of an estimator's description holds, for messages
_ENTRIES = {
    "class": "which estimator it is",
    "params": "its settings",
    "n_features_in_": "its number of input features",
    "pos_weight_": "its class weight",
    "state_dict": "the network weights",
}


def _entry(node: dict, key: str, where: str):
    """``node[key]``, or a :class:`MissingEntry` naming what is missing."""
    if not isinstance(node, dict) or key not in node:
        what = _ENTRIES.get(key, "a needed value")
        raise MissingEntry(f"{where} has no {key!r} entry ({what})")
    return node[key]


class ModelReader:
    """Rebuilds estimators from a description and its arrays."""

    def __init__(self, arrays) -> None:
        self.arrays = arrays

    def value(self, v):
        if isinstance(v, list):
            return [self.value(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "__array__" in v:
            key = v["__array__"]
            if key not in self.arrays:
                raise MissingEntry(
                    f"its weights file lacks the array {key!r} it refers to "
                    "(were the .json and .npz saved together?)"
                )
            return np.asarray(self.arrays[key])
        if "__tuple__" in v:
            return tuple(self.value(x) for x in v["__tuple__"])
        if "__class__" in v:
            return self._cls(v["__class__"])
        if "class" in v:
            return self.estimator(v)
        raise ValueError(f"unrecognised entry in model file: {sorted(v)}")

    def _cls(self, name: str) -> type:
        if name not in _ALLOWED:
            raise ValueError(f"model file names an unknown class {name!r}")
        return _resolve(name)

    def estimator(self, node: dict):
        name = node["class"]
        cls = self._cls(name)
        where = f"the {name} entry"
        params = _entry(node, "params", where)
        if not isinstance(params, dict):
            raise MissingEntry(f"{where} has no settings ('params' is not a table)")
        est = cls(**{k: self.value(v) for k, v in params.items()})
        fitted = node.get("fitted", {})
        if name == "MergeNet":
            if fitted:
                import torch

                est.n_features_in_ = int(_entry(fitted, "n_features_in_", where))
                est.pos_weight_ = _entry(fitted, "pos_weight_", where)
                est.classes_ = self.value(fitted.get("classes_", [0, 1]))
                est.initialize()
                state = {
                    k: torch.from_numpy(np.array(self.value(v)))
                    for k, v in _entry(fitted, "state_dict", where).items()
                }
                est.module_.load_state_dict(state)
                est.module_.eval()
            return est
        for k, v in fitted.items():
            if not (k.endswith("_") and k[:1].isalpha() and k.isidentifier()):
                raise ValueError(f"model file sets an unexpected attribute {k!r}")
            setattr(est, k, self.value(v))
        if node["class"] == "IsotonicRegression" and fitted:
            # the interpolating function is rebuilt from the saved thresholds
            est._build_f(est.X_thresholds_, est.y_thresholds_)
        return est
