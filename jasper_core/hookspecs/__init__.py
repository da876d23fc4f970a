"""pluggy hook specifications for the ``jasper`` project.

Registration hooks (one per component kind) live in :mod:`.registration`; the lifecycle hooks
that loggers and callbacks implement live in :mod:`.lifecycle`. Plugin code imports the public
``hookimpl`` marker from :mod:`jasper_core`; the ``hookspec`` marker is private to this package.
"""

from jasper_core.hookspecs import cli, lifecycle, registration
from jasper_core.hookspecs.markers import hookimpl

SPEC_MODULES = (registration, lifecycle, cli)

__all__ = ["SPEC_MODULES", "cli", "hookimpl", "lifecycle", "registration"]
