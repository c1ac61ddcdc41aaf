"""Amaranth RTL of the fabric, and the parameters and packet layouts that everything shares."""
