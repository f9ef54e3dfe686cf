"""A napari plugin to correct and proofread oversegmentation.

Installed with ``pip install 'sklearn_overseg[napari]'``; napari finds it
through the ``napari.manifest`` entry point (``napari.yaml`` in this folder).
The dock widget (:class:`~sklearn_overseg.napari._widget.ReviewWidget`) runs
a corrector on a Labels layer, lists the candidate pairs from the most unsure
to the surest, and lets a person accept or reject each merge, undo, save and
load the decisions CSV of ``overseg apply-decisions``, and write the
corrected labels.

Importing this subpackage does not import napari or Qt: only the widget
module does, when napari opens the widget.
"""

__all__: list[str] = []
