"""Local AI: model manifests, the runner and post-processing. The only package that imports torch."""
