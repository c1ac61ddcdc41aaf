"""``nki.language``, implemented by :mod:`emulator.tile.language`."""

from emulator.tile.language import *  # noqa: F403
from emulator.tile.language import __all__  # noqa: F401
