"""One module per outside system: the only code that talks to it."""
