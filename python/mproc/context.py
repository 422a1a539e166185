"""Contexts ("fork", "spawn") and the top-level names of multiprocessing."""
__all__ = []
