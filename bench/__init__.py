"""Benchmarks and evaluation sets."""
