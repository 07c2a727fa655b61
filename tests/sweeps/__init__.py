"""nnrun sweep end to end: the driver, its folder and tables, resuming, the local and Dask executors."""
