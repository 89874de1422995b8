"""The python-backend model every stand-in runs (repro.serving.standins)."""
