"""Reports: the published-style table renderer, measured tables, plots, provenance, physical limits."""
