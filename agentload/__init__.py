"""The agentload command-line interface: thin commands over the packages."""

from importlib.metadata import version

# One version source: pyproject.toml, as installed.
__version__ = version("agentload")
