"""Tests with real worker processes on loopback."""
