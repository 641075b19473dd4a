"""The connector runtime: fetch, log in, compose, report, monitor, stop."""
