"""``python -m jasper`` entry point; the code lives in :mod:`jasper_core` and :mod:`jasper_plugins`."""
