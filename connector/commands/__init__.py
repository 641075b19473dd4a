"""The CLI's commands: each returns an exit code; only cli.main exits."""
