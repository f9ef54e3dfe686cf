"""Reading order of the gallery scripts (sphinx-gallery sort key)."""

from __future__ import annotations

import os

#: Scripts in reading order; scripts not listed follow, by file name.
ORDER = [
    # examples/
    "plot_correct_volume.py",
    "plot_train_corrector.py",
    "plot_grid_search.py",
    "plot_tilted_mode.py",
    "plot_read_formats.py",
    # examples/method/
    "plot_split_cell.py",
    "plot_emd_trajectories.py",
    "plot_topology_curve.py",
    "plot_interpolation.py",
]


class ExampleOrder:
    """Sort key of sphinx-gallery's ``within_subsection_order``."""

    def __init__(self, src_dir: str) -> None:
        self.src_dir = src_dir

    def __call__(self, filename: str) -> tuple[int, str]:
        name = os.path.basename(filename)
        return (ORDER.index(name) if name in ORDER else len(ORDER), name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"
