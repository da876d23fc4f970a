"""jasper's built-in plugins. Each subpackage is an entry point of the ``jasper`` distribution and
registers its components through the same hooks a third-party plugin uses."""
