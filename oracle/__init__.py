"""Differential oracle: effect programs run through refimpl and real torch, then compared."""
