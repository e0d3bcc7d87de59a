"""Benchmarks of the running service against its baselines; ``python3 -m bench`` runs them all."""
