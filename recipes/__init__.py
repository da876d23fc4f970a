"""Built-in recipes (TOML files), found by name: ``jasper train quickstart``."""
