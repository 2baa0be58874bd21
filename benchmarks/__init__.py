"""Benchmarks that print figures; run them with the make targets."""
