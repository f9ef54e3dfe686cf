"""Pretrained correctors (``NAME.json`` + ``NAME.npz``) and their training script.

Reproduce them with ``python -m sklearn_overseg.pretrained.train``. What each
model is trained on, and the licence of every data source: the model card,
``docs/model_card.md``.
"""
