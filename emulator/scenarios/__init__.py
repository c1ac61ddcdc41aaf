"""Runnable scenarios behind ``fusion-emu run``."""
