"""Containers: the pinned images (docker/pins.yaml), the container engine (docker or podman) with
upstream's flags, and the plan of commands a container profile runs."""
