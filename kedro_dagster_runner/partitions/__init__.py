"""Partitions: definitions and mappings from the catalog (:mod:`.definitions`), the fan-out of a
run's nodes over them (:mod:`.fanout`) and a node scoped to one op's partitions
(:mod:`.scope`)."""
