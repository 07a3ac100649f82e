"""The ``kedro run`` side: what the session knows (:mod:`.session_capture`), planning the run
(:mod:`.plan`), handing it to Dagster attached or detached (:mod:`.execution`), following it
(:mod:`.progress`, :mod:`.releaser`) and reporting a failure the Kedro way (:mod:`.report`)."""
