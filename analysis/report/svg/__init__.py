"""Inline SVG charts generated in Python (one module per chart kind)."""
