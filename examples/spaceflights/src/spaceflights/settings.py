"""Kedro settings for the Spaceflights project.

Only the project hooks are configured here; everything else uses Kedro's
defaults (OmegaConfigLoader, ``conf/`` as the configuration source, ``base`` as
the base environment and ``local`` as the default run environment).
"""

from spaceflights.hooks import ProjectHooks

# Hook implementations are called last-in-first-out.
HOOKS = (ProjectHooks(),)
