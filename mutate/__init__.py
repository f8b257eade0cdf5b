"""Mutation testing of the core: `make mutate` (see docs/testing.md)."""
