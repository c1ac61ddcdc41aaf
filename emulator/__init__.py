"""Python models of the fabric: untimed references (ref), cycle models (cycle), compute tiles."""
