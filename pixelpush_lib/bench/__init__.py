"""Benchmarks: each measures a baseline in the same run and prints ``ratio=<x>`` last (``python -m pixelpush_lib.bench NAME``)."""
