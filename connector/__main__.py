from connector.cli import entry

entry()
