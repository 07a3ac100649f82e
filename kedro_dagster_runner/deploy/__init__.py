"""Where runs are recorded and started: the Dagster instance (:mod:`.instance`), detached
submission through a run launcher (:mod:`.submission`) and the project image that containers and
pods run (:mod:`.image`)."""
