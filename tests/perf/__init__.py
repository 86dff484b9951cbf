"""The benchmark behind `make bench` (see docs/performance.md); pytest does not collect it."""
