"""The model library: models on disk, the catalog of downloadable ones, the hub, compare reports."""
