"""Reports over result files: terminal tables, a self-contained HTML page, compare, sweep."""
