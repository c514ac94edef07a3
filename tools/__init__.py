"""Scripts of the realtime_nmf project (not installed): run them from the repository root as modules, e.g. python -m tools.benchmarks.bench."""
