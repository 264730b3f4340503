"""Benchmarks: reelsight's pipeline against a re-implementation of the seed-002 handler."""
