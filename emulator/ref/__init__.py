"""Untimed golden models: what must arrive, in what order, with what data."""
