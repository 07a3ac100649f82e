"""Datasets of the package, for ``catalog.yml``.

* :class:`DagsterPartitionedDataset`: Kedro's ``PartitionedDataset`` with Dagster partitions
  (static, time windows, dynamic) and partition mappings; ``DagsterRunner`` runs a node that
  reads and writes one as one op per partition key, and the code location shows it as a
  partitioned asset.
* :class:`DagsterNothingDataset`: an edge that only orders two nodes (saves and loads nothing).

The class names are kedro-dagster's: moving a catalog over is a change of module,
``kedro_dagster.DagsterPartitionedDataset`` ->
``kedro_dagster_runner.datasets.DagsterPartitionedDataset``.
"""

from kedro_dagster_runner.datasets.nothing import DagsterNothingDataset
from kedro_dagster_runner.datasets.partitioned import DagsterPartitionedDataset, PartitionSlice

__all__ = ["DagsterNothingDataset", "DagsterPartitionedDataset", "PartitionSlice"]
