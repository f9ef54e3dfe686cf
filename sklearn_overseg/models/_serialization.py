"""A safe file format for trained correctors: JSON parameters plus arrays.

``save_model`` writes ``name.json`` (estimator classes, parameters and small
fitted attributes) and ``name.npz`` (arrays: network weights, scaler
statistics, ...). ``load_model`` rebuilds the estimators from an allow-list of
classes and reads the arrays with ``allow_pickle=False``, so loading a model
file made by someone else cannot execute code. Pickle and joblib still work
for any estimator, with the usual warning: only unpickle files you trust.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 1


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
    "MergeNet": "sklearn_overseg.models._classifier:MergeNet",
    "MergeMLP": "sklearn_overseg.models._classifier:MergeMLP",
    "MergeCorrector": "sklearn_overseg.correction:MergeCorrector",
    "FeatureRange": "sklearn_overseg.models:FeatureRange",
    "CandidateScreener": "sklearn_overseg.screening:CandidateScreener",
    "GeoWassersteinFeatures": "sklearn_overseg.features:GeoWassersteinFeatures",
    "TopologyFeatures": "sklearn_overseg.features:TopologyFeatures",
    "FragmentExtentFeatures": "sklearn_overseg.features:FragmentExtentFeatures",
    "GapRoutedClassifier": "sklearn_overseg.models:GapRoutedClassifier",
    "ImageFeatures": "sklearn_overseg.features:ImageFeatures",
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


class _Writer:
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


class _MissingEntry(Exception):
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
    """``node[key]``, or a :class:`_MissingEntry` naming what is missing."""
    if not isinstance(node, dict) or key not in node:
        what = _ENTRIES.get(key, "a needed value")
        raise _MissingEntry(f"{where} has no {key!r} entry ({what})")
    return node[key]


class _Reader:
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
                raise _MissingEntry(
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
            raise _MissingEntry(f"{where} has no settings ('params' is not a table)")
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


def _paths(path) -> tuple[Path, Path]:
    path = Path(path)
    if path.suffix in (".json", ".npz"):
        path = path.with_suffix("")
    return path.with_suffix(".json"), path.with_suffix(".npz")


def save_model(estimator, path) -> Path:
    """Save a fitted corrector (or pair pipeline) in the safe format.

    Parameters
    ----------
    estimator : MergeCorrector or estimator
        Built from the package's estimators, scikit-learn pipelines,
        ``StandardScaler``, ``LogisticRegression`` and ``BaggingClassifier``
        (for example a seed ensemble of ``MergeNet``).
    path : str or Path
        ``model.json`` (the weights go to ``model.npz`` beside it).

    Returns
    -------
    Path
        The JSON file written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from sklearn_overseg import CandidateScreener, load_model, save_model
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "screener.json"
    >>> _ = save_model(CandidateScreener(max_gap=2), path)
    >>> load_model(path).max_gap
    2
    """
    from .. import __version__

    json_path, npz_path = _paths(path)
    writer = _Writer()
    doc = {
        "format": "sklearn_overseg-model",
        "format_version": FORMAT_VERSION,
        "package_version": __version__,
        "estimator": writer.value(estimator),
    }
    json_path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(npz_path, **writer.arrays)
    json_path.write_text(json.dumps(doc, indent=1))
    return json_path


def load_model(path):
    """Load a model saved by :func:`save_model`, without unpickling anything.

    Parameters
    ----------
    path : str or Path
        The ``.json`` file (or the common stem).

    Returns
    -------
    estimator
        The fitted estimator.

    Raises
    ------
    FileNotFoundError
        If the JSON or NPZ file is missing.
    ValueError
        If a file is corrupt or truncated, or from an incompatible version.
    """
    json_path, npz_path = _paths(path)
    if not json_path.exists():
        raise FileNotFoundError(f"model file not found: {json_path}")
    doc = _read_description(json_path)
    if not npz_path.exists():
        raise FileNotFoundError(
            f"the weights of model {json_path} are missing: {npz_path.name} "
            "must lie beside it (save_model and 'overseg train' write both)"
        )
    if not zipfile.is_zipfile(npz_path):
        raise ValueError(
            f"corrupt or truncated model weights {npz_path}: not an npz archive"
        )
    try:
        with np.load(npz_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        return _Reader(arrays).value(doc["estimator"])
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise ValueError(f"corrupt or truncated model weights {npz_path}: {exc}") \
            from None
    except _MissingEntry as exc:
        raise ValueError(f"model file {json_path} is incomplete: {exc}") from None
    except (KeyError, TypeError, RuntimeError, AttributeError) as exc:
        detail = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise ValueError(
            f"model file {json_path} does not match its weights or this version "
            f"of sklearn_overseg ({type(exc).__name__}: {detail})"
        ) from None


_NOT_A_MODEL = (
    "{path} is not a sklearn_overseg model file ({why}); give a .json file "
    "written by 'overseg train' or save_model, or a pretrained name"
)


def _read_description(json_path: Path) -> dict:
    """The model file's JSON, checked to be a model description of our format."""
    try:
        doc = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        why = f"not valid JSON: {exc}"
        raise ValueError(_NOT_A_MODEL.format(path=json_path, why=why)) from None
    if not isinstance(doc, dict) or doc.get("format") != "sklearn_overseg-model":
        why = "it does not say format 'sklearn_overseg-model'"
        raise ValueError(_NOT_A_MODEL.format(path=json_path, why=why))
    if doc.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{json_path} has model format version {doc.get('format_version')}, "
            f"this sklearn_overseg reads version {FORMAT_VERSION}"
        )
    if not isinstance(doc.get("estimator"), dict):
        raise ValueError(
            f"model file {json_path} is incomplete: it has no 'estimator' entry "
            "(the description of the trained model)"
        )
    return doc
