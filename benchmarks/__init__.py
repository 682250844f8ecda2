"""Reproducible performance comparisons (not timed tests); `make bench` runs them all."""
