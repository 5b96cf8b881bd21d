"""Helpers shared by the tests and the benchmarks: throw-away servers and scratch databases."""
