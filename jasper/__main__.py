from jasper_core.cli.main import entry

entry()
