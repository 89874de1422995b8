"""User commands that are not pipeline stages (`make <target>` calls them): setup, doctor, bench,
compare, determinism check, dense benchmark, published-table viewer, profile selection, h100 kit."""
