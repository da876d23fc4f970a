"""The ``jasper`` command line."""
