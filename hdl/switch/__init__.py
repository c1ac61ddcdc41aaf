"""Switch chip RTL: allocator, crossbar and input units, one Component per file."""
