"""`nnrun export`: real run and sweep folders into a real MLflow store (SQLite) and real TensorBoard event files,
read back with MlflowClient and TensorBoard's own reader; skipped where the extras are not installed."""
