"""Datasets: file formats, locating and downloading, preparing splits, and the data CLI."""
