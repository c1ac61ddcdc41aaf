"""The rack as three layers: ranks (workload), collectives (system) and the network protocol.

ARCHITECTURE section 7. :mod:`emulator.system.network` defines the one protocol every network
backend implements; :func:`emulator.system.backends.make_network` builds a backend by name.
"""
