"""The shared domain layer under the runtime, validation and the GGv2 export: image references,
compose projects, releases and the history's entries. It imports nothing of theirs."""
