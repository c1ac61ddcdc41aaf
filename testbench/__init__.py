"""Reusable cocotb verification components: stream drivers, packet drivers, scoreboards."""
