"""The h100 profile: a GPU host without containers or a package index, served from a carried kit."""
