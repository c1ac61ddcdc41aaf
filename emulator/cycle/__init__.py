"""Cycle models: the same outputs on the same cycles as the RTL, in Python."""
