"""Offline validation of connector definitions: documents, rules, findings, reporters."""
