"""The agentload command-line interface: thin commands over the packages."""

__version__ = "0.1.0"
