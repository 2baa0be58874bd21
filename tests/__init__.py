"""Test suite; mirrors the packages, integration/ runs the real pipeline."""
