"""No project hooks: kedro-mlflow registers its own through its entry point."""
