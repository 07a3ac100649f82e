import os

from demo_project.hooks import RecordingHooks

HOOKS = (RecordingHooks(),)

if os.environ.get("DEMO_CATALOG_CLASS"):
    from demo_project.custom import MarkedCatalog

    DATA_CATALOG_CLASS = MarkedCatalog

if os.environ.get("DEMO_SERVICE_SESSION"):
    from kedro.framework.session import KedroServiceSession

    SESSION_CLASS = KedroServiceSession
