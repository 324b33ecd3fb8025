"""Synthetic CT phantoms (demo study, tests, model training). numpy and scipy only."""
