"""The pluggy markers of project ``jasper``."""

import pluggy

PROJECT = "jasper"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
