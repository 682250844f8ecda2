"""Peer load generators, each installed from PyPI into its own cached virtual environment."""
