"""Redis-backed state. `keys.py` is the only place key names are built."""
