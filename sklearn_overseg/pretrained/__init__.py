"""Pretrained correctors (``NAME.json`` + ``NAME.npz``) and their training script.

Reproduce them with ``python -m sklearn_overseg.pretrained.train``. What each
model is trained on, and the licence of every data source: the model card,
``docs/model_card.md``. The training pairs of the ``axis`` model come from
:func:`axis_training_candidates`, which other code may call with extra
ground-truth volumes.
"""

from ._axis_recipe import axis_training_candidates, stitch_candidates

__all__ = ["axis_training_candidates", "stitch_candidates"]
