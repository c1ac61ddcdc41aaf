"""A table-driven software CRC built from an ``amaranth.lib.crc`` parameter object.

``Parameters.compute`` is exact but works bit by bit; models that check a header every cycle
need it faster. :class:`TableCrc` takes the algorithm from the same parameter object (width,
polynomial, initial value, output XOR) and processes a byte per table look-up; a unit test
checks it against ``compute`` on random words. Only unreflected algorithms are supported, as
the link CRC is one.
"""

from __future__ import annotations

from collections.abc import Sequence

from amaranth.lib import crc


class TableCrc:
    """``compute(words)`` equal to ``parameters.compute(words)``, a byte per step."""

    def __init__(self, parameters: crc.Parameters) -> None:
        algorithm = parameters.algorithm
        if algorithm.reflect_input or algorithm.reflect_output:
            raise ValueError("TableCrc handles unreflected CRCs only")
        if parameters.data_width % 8:
            raise ValueError("TableCrc needs a data width that is a whole number of bytes")
        self.width = algorithm.crc_width
        self.initial = algorithm.initial_crc
        self.xor_output = algorithm.xor_output
        self.bytes_per_word = parameters.data_width // 8
        self.mask = (1 << self.width) - 1
        self.shift = self.width - 8
        top = 1 << (self.width - 1)
        table = []
        for byte in range(256):
            value = byte << self.shift
            for _ in range(8):
                value = ((value << 1) ^ algorithm.polynomial) if value & top else value << 1
            table.append(value & self.mask)
        self.table = table

    def compute(self, words: Sequence[int]) -> int:
        value, mask, shift, table = self.initial, self.mask, self.shift, self.table
        for word in words:
            for byte in word.to_bytes(self.bytes_per_word, "big"):
                value = ((value << 8) & mask) ^ table[((value >> shift) ^ byte) & 0xFF]
        return value ^ self.xor_output
