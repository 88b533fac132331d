"""Benchmarks of the mlc-ci pipeline on examples/mini-llm (`python benchmarks/run.py`)."""
