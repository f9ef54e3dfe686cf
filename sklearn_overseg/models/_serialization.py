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

from ._model_codec import MissingEntry, ModelReader, ModelWriter

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 1


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
    writer = ModelWriter()
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
        return ModelReader(arrays).value(doc["estimator"])
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise ValueError(f"corrupt or truncated model weights {npz_path}: {exc}") \
            from None
    except MissingEntry as exc:
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
