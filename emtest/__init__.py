"""Helpers shared by tests/ and bench/: case generators with known answers and their scorers.
Neither tests/ nor bench/ import each other; both import this. Not part of the installed
distribution."""
