"""Network backends by name: ``make_network(system, "cycle")``.

The layers above choose a backend only through this table, so a new backend plugs in here and
nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable

from hdl.params import ConfigError, SystemParams

from .network import Network

#: Backend name -> factory taking the system parameters and the run's options.
BACKENDS: dict[str, Callable[..., Network]] = {}
#: Backends the architecture names that are not built yet, with the reason shown to users.
PLANNED = {"rtl": "the rtl backend (chiplets and switch planes under cocotb) is not built yet",
           "flow": "the flow backend (calibrated from cycle) is not built yet"}


def register(name: str, factory: Callable[..., Network]) -> None:
    BACKENDS[name] = factory


def make_network(system: SystemParams, backend: str = "cycle", **options) -> Network:
    """The network of ``system`` on ``backend``; a :class:`ConfigError` for an unknown one."""
    from . import rack  # noqa: F401  (registers "cycle")

    if backend in PLANNED and backend not in BACKENDS:
        raise ConfigError(f"Backend {backend!r}: {PLANNED[backend]}; use cycle.")
    try:
        factory = BACKENDS[backend]
    except KeyError:
        known = sorted(set(BACKENDS) | set(PLANNED))
        raise ConfigError(f"Unknown backend {backend!r}; valid backends are "
                          f"{', '.join(known)}.") from None
    return factory(system, **options)
