"""
Review merges in napari, by hand or from a script
=================================================

Open napari with the plugin's sample data (a synthetic tissue damaged by
oversegmentation and a membrane image), dock the review widget and run the
shipped ``axis`` model. The table lists the candidate pairs from the most
unsure to the surest; selecting a row centres the view on the pair and
paints its two fragments (magenta above, cyan below). **A**, **R** and **S**
accept, reject or skip the selected pair, **Ctrl+Z** undoes.

.. image:: ../../images/napari_review.png
   :alt: napari with the review widget docked on the right

The same steps can be scripted, for example to apply a CSV reviewed earlier:
the widget's methods are what its buttons call. Run this file with
``python napari_review.py`` (it opens a window).
"""

# sphinx_gallery_thumbnail_path = 'images/napari_widget.png'

import napari

from sklearn_overseg.napari._sample import make_sample_data
from sklearn_overseg.napari._widget import ReviewWidget

viewer = napari.Viewer()
for data, kwargs, kind in make_sample_data():
    getattr(viewer, f"add_{kind}")(data, **kwargs)

widget = ReviewWidget(viewer)
viewer.window.add_dock_widget(widget, name="Oversegmentation review")
widget.labels_combo.setCurrentText("damaged segmentation")
widget.image_combo.setCurrentText("membranes")
widget.model_combo.setCurrentText("axis")

# %%
# Run in a worker thread; when it is done, reject the most unsure pair, apply
# the merges to a new Labels layer and save the decisions, which
# ``overseg apply-decisions`` reads.


def review(_result=None):
    widget.table.selectRow(0)
    widget.set_verdict("rejected")
    widget.apply()


widget.run()
widget.worker.finished.connect(review)

# %%
# When ``Apply`` has finished, ``widget.save_decisions("decisions.csv")`` and
# ``widget.write_corrected("corrected.tif")`` save the verdicts and the
# corrected labels (with the layer's scale as voxel size).

if __name__ == "__main__":
    napari.run()
