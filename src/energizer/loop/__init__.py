"""Pieces of the active learning loop that ``energizer.Trainer`` runs."""
