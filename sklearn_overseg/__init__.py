"""Find and repair oversegmentation in 3D cell segmentations."""

__version__ = "0.1.0"
