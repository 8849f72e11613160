"""Benchmarks of bookbridge, each figure a ratio against a floor measured in the same run (``make bench``)."""
