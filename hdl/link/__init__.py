"""Link layer RTL: framing (CRC over headers and the payload before them) and its buffers."""
