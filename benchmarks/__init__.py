"""Benchmarks above the recipes: `python -m benchmarks` (make bench); see benchmarks/__main__.py."""
