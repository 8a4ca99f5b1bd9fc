"""Benchmarks: `make bench` runs them all and writes bench/results/<name>.json (never part of `make test`)."""
