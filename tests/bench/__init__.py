"""Benchmarks of the collection's roles on the proving ground (``make bench``)."""
