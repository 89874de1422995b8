"""The published results registry: the seed-document parser and the registry index."""
