"""Pure computation on arrays: force plates, gait events, midstance, loading rate, markers,
camera geometry, metrics and statistics.

Nothing here imports another Midstance package, Qt, or a vendor SDK (tests/test_layering.py).
"""
