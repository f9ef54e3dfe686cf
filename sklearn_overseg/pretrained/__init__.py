"""Pretrained correctors (``NAME.json`` + ``NAME.npz``) and their training script.

Reproduce them with ``python -m sklearn_overseg.pretrained.train``.
"""
