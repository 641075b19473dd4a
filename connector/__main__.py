from dadc.cli import entry

entry()
