"""A Kedro project tracked with kedro-mlflow, for the one-MLflow-run-per-Kedro-run tests."""
