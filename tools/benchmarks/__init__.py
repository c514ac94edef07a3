"""Benchmarks: speed (bench), separation quality (quality), long runs (soak), explorations. Each prints the table it measures."""
