"""dadc: an open implementation of the Docker application deployment connector."""

__version__ = "0.2.0"
