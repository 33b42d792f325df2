"""gc.nn: neural-network ops as composites of primitives (so fusion sees through them)."""
