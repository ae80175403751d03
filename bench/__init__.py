"""Benchmarks of the submission path; never imported by the project itself."""
