"""The Dagster UI side: the project's code location (:mod:`.code_location`) with its assets
(:mod:`.assets`), and the ``kedro dagster-runner`` commands (:mod:`.cli`)."""
