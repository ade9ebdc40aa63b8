"""The benchmark suite: fanout, idle and rooms scenarios, side by side.

Run with ``python -m benchmarks``; see benchmarks/README.md.
"""
