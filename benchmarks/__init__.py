"""Benchmark suite: workload data, numpy references and timing helpers (see WORKLOADS.md)."""
