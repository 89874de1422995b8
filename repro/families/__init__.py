"""Model families: what is served. One folder per family (repro/families/<name>/)."""
