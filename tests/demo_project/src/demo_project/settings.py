from demo_project.hooks import RecordingHooks

HOOKS = (RecordingHooks(),)
