"""Data sets that ship inside installed packages, ready for research-mode runs."""

from energizer.datasets.bundled import BUNDLED_DATASETS, BundledData, load_bundled

__all__ = ["BUNDLED_DATASETS", "BundledData", "load_bundled"]
