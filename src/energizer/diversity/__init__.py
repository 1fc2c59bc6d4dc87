"""Diversity algorithms: pure tensor functions that choose spread-out points.

They take embeddings (one row per pool item) and return positions into
those rows, never dataset ids: the query strategies map positions to ids.
Nothing here holds state or knows about Lightning, like
:mod:`energizer.acquisition` for scores.

- :func:`k_center_greedy`: farthest-first traversal (Sener and Savarese 2018).
- :func:`kmeans_plus_plus`: k-means++ seeding (Arthur and Vassilvitskii 2007),
  on dense points or on :class:`OuterProductPoints`, the factored form of
  BADGE's gradient embeddings.
- :func:`typicality`: inverse mean distance to the nearest neighbours
  (Hacohen et al. 2022).
- :func:`kmeans_labels`: seeded k-means clustering with scikit-learn.
"""

from energizer.diversity.clustering import kmeans_labels
from energizer.diversity.k_center import k_center_greedy
from energizer.diversity.kmeans_pp import kmeans_plus_plus
from energizer.diversity.points import OuterProductPoints
from energizer.diversity.typicality import typicality

__all__ = [
    "OuterProductPoints",
    "k_center_greedy",
    "kmeans_labels",
    "kmeans_plus_plus",
    "typicality",
]
