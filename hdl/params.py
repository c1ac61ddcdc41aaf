"""Every parameter of the modelled system, declared once.

The RTL in ``hdl/``, the models in ``emulator/``, the testbenches and the exported JSON sidecars
all take the same frozen objects defined here. Each class checks its values on construction and
raises :class:`ConfigError` with one sentence that names the field, the value and what is
allowed. Derived figures (widths, depths, bandwidths) are properties, never stored twice.

The named presets reproduce the public figures listed in ``docs/presets.md``.
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from amaranth.lib import crc

from . import layouts


class ConfigError(ValueError):
    """A configuration that cannot be used. The message is one sentence a user can act on."""


def _fail(section: str, name: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{section}.{name} = {value!r} is not allowed: {allowed}.")


def _is_power_of_two(value: int) -> bool:
    return value > 0 and value & (value - 1) == 0


def _next_power_of_two(value: int) -> int:
    return 1 << max(0, (value - 1).bit_length())


class _Section:
    """Shared construction from plain mappings (config files, JSON sidecars)."""

    SECTION = ""

    def _check_types(self) -> None:
        hints = typing.get_type_hints(type(self))
        for item in fields(self):  # type: ignore[arg-type]
            expected = hints[item.name]
            value = getattr(self, item.name)
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                object.__setattr__(self, item.name, float(value))
                continue
            if expected in (int, float, str, bool) and (
                not isinstance(value, expected) or (expected is int and isinstance(value, bool))
            ):
                _fail(self.SECTION, item.name, value, f"it must be of type {expected.__name__}")

    def _positive(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) <= 0:
                _fail(self.SECTION, name, getattr(self, name), "it must be greater than zero")

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: Any = None) -> Any:
        """Build from ``config``, starting from ``base`` (an instance) where given.

        Unknown keys are refused, naming the valid ones.
        """
        names = {item.name for item in fields(cls)}  # type: ignore[arg-type]
        if not isinstance(config, Mapping):
            raise ConfigError(f"[{cls.SECTION}] must be a table of settings, not {config!r}.")
        if unknown := sorted(set(config) - names):
            raise ConfigError(f"Unknown {cls.SECTION} parameter(s) {unknown}; "
                              f"valid ones are {sorted(names)}.")
        if base is None:
            return cls(**config)
        return dataclasses.replace(base, **config)


@dataclass(frozen=True)
class LinkParams(_Section):
    """One NVLink-style link: a 128-bit flit per cycle in each direction.

    Parameters
    ----------
    clock_hz : float
        Flit clock; bandwidth per direction is ``flit_bytes * clock_hz``.
    virtual_channels : int
        Virtual channels on the link (at least 2: requests and responses).
    pipeline_latency_cycles : int
        One-way latency of the wire, SerDes and retimers, in flit cycles (a modelling choice).
    credits_per_vc, replay_buffer_flits, ack_timeout_cycles : int
        0 (the default) derives each from the round trip; a forced value below what the round
        trip needs is accepted with a warning of its cost (:meth:`warnings`), one that could
        never work is refused.
    """

    SECTION = "link"

    clock_hz: float = 3.125e9
    virtual_channels: int = 2
    pipeline_latency_cycles: int = 16
    credits_per_vc: int = 0
    replay_buffer_flits: int = 0
    ack_timeout_cycles: int = 0

    def __post_init__(self) -> None:
        self._check_types()
        self._positive("clock_hz", "pipeline_latency_cycles")
        for name in ("credits_per_vc", "replay_buffer_flits", "ack_timeout_cycles"):
            if getattr(self, name) < 0:
                _fail(self.SECTION, name, getattr(self, name), "it cannot be negative; 0 derives "
                      "it from the round trip")
        packet = layouts.MAX_PACKET_FLITS
        if self.credits_per_vc and self.credits_per_vc < packet:
            _fail(self.SECTION, "credits_per_vc", self.credits_per_vc,
                  f"a {packet}-flit packet could never be sent (use 0 to derive it from the "
                  f"round trip: {self.credit_round_trip_cycles})")
        if self.replay_buffer_flits and (self.replay_buffer_flits < packet
                                         or not _is_power_of_two(self.replay_buffer_flits)):
            _fail(self.SECTION, "replay_buffer_flits", self.replay_buffer_flits,
                  f"it must be a power of two of at least {packet} flits (use 0 to derive it)")
        most = 1 << layouts.field_width(layouts.LINK_HEADER, "vc")
        if not 2 <= self.virtual_channels <= most:
            _fail(self.SECTION, "virtual_channels", self.virtual_channels,
                  f"a link needs 2 to {most} (the width of the header's vc field)")

    @property
    def flit_bits(self) -> int:
        return layouts.FLIT_BITS

    @property
    def flit_bytes(self) -> int:
        return layouts.FLIT_BITS // 8

    @property
    def vc_bits(self) -> int:
        return max(1, (self.virtual_channels - 1).bit_length())

    @property
    def max_payload_flits(self) -> int:
        """Flits that may follow one header: optional flits plus data flits."""
        return layouts.MAX_PAYLOAD_FLITS

    @property
    def crc(self) -> crc.Parameters:
        """The link CRC over 128-bit words, for software (``compute``) and RTL (``create``)."""
        return layouts.LINK_CRC(data_width=layouts.FLIT_BITS)

    @property
    def bandwidth_per_direction(self) -> float:
        """Bytes per second in one direction."""
        return self.flit_bytes * self.clock_hz

    @property
    def bandwidth_bidirectional(self) -> float:
        return 2 * self.bandwidth_per_direction

    @property
    def round_trip_cycles(self) -> int:
        """Worst cycles from a packet's first flit leaving to its acknowledgement arriving.

        The packet itself (up to a whole packet of flits), the wire, one cycle to check the
        next header (which proves the payload), a whole packet that the far transmitter may
        be sending before the acknowledgement can ride on a header, the wire back, and one
        cycle at each end's registers.
        """
        packet = layouts.MAX_PACKET_FLITS
        return packet + self.pipeline_latency_cycles + 1 + packet + \
            self.pipeline_latency_cycles + 2

    @property
    def credit_round_trip_cycles(self) -> int:
        """Round trip of a credit: as an acknowledgement, plus the wait for a credit update
        to be worth a control flit (``credit_update_flits``)."""
        return self.round_trip_cycles + self.credit_update_flits

    @property
    def credit_update_flits(self) -> int:
        """Credits freed on a virtual channel that make the transmitter send an update before
        its next new packet: a whole packet's worth."""
        return layouts.MAX_PACKET_FLITS

    @property
    def credit_pool_flits(self) -> int:
        """Receive buffer (credits) per virtual channel, in flits: one credit round trip at one
        flit per cycle, so one VC alone can fill the link; ``credits_per_vc`` overrides."""
        return self.credits_per_vc or self.credit_round_trip_cycles

    @property
    def replay_buffer_depth(self) -> int:
        """Flits the replay buffer holds: everything sent in one round trip plus one packet,
        rounded up to a power of two; ``replay_buffer_flits`` overrides."""
        if self.replay_buffer_flits:
            return self.replay_buffer_flits
        return _next_power_of_two(self.round_trip_cycles + layouts.MAX_PACKET_FLITS)

    @property
    def sequence_modulus(self) -> int:
        """Sequence numbers wrap at this value (the width of the header's ack field)."""
        return 1 << layouts.field_width(layouts.LINK_HEADER, "ack")

    @property
    def max_unacknowledged_packets(self) -> int:
        """Go-back-N window: one less than the sequence modulus."""
        return self.sequence_modulus - 1

    @property
    def ack_timeout(self) -> int:
        """Cycles without acknowledgement progress after which the transmitter replays."""
        return self.ack_timeout_cycles or 2 * self.round_trip_cycles

    def warnings(self) -> list[str]:
        """Costs of forced sizes below the derived ones, as sentences to print."""
        notes = []
        needed = self.credit_round_trip_cycles
        if self.credits_per_vc and self.credits_per_vc < needed:
            notes.append(f"link.credits_per_vc = {self.credits_per_vc} is below the credit round "
                         f"trip of {needed} cycles: one virtual channel alone reaches at most "
                         f"{self.credits_per_vc / needed:.0%} of the link rate.")
        needed = self.round_trip_cycles + layouts.MAX_PACKET_FLITS
        if self.replay_buffer_flits and self.replay_buffer_flits < needed:
            notes.append(f"link.replay_buffer_flits = {self.replay_buffer_flits} is below the "
                         f"{needed} flits sent in a round trip: the link reaches at most "
                         f"{self.replay_buffer_flits / needed:.0%} of its rate.")
        if self.ack_timeout_cycles and self.ack_timeout_cycles < self.round_trip_cycles:
            notes.append(f"link.ack_timeout_cycles = {self.ack_timeout_cycles} is shorter than "
                         f"the round trip of {self.round_trip_cycles} cycles: the transmitter "
                         "will replay packets that were received, wasting bandwidth.")
        return notes

    @property
    def deframer_buffer_flits(self) -> int:
        """Receive buffer of the deframer: one packet being checked while one drains, plus the
        two flits in flight, rounded up to a power of two so that pointers wrap for free."""
        return _next_power_of_two(2 * self.max_payload_flits + 2)


@dataclass(frozen=True)
class SwitchParams(_Section):
    """One switch chip of a switch tray (one plane of the fabric)."""

    SECTION = "switch"

    ports: int = 8
    virtual_channels: int = 2
    input_buffer_flits: int = 64
    islip_iterations: int = 2

    def __post_init__(self) -> None:
        self._check_types()
        self._positive("ports", "virtual_channels", "islip_iterations")
        if self.ports < 2:
            _fail(self.SECTION, "ports", self.ports, "a switch needs at least 2 ports")
        if not _is_power_of_two(self.input_buffer_flits):
            _fail(self.SECTION, "input_buffer_flits", self.input_buffer_flits,
                  "it must be a power of two so that buffer pointers wrap for free")
        if self.virtual_channels <= layouts.COMPLETION_VC:
            _fail(self.SECTION, "virtual_channels", self.virtual_channels,
                  "requests and completions need a virtual channel each")
        if self.input_buffer_flits // self.virtual_channels < layouts.MAX_PACKET_FLITS:
            _fail(self.SECTION, "input_buffer_flits", self.input_buffer_flits,
                  f"each of the {self.virtual_channels} virtual channels needs room for a "
                  f"whole packet of {layouts.MAX_PACKET_FLITS} flits, so at least "
                  f"{layouts.MAX_PACKET_FLITS * self.virtual_channels}")
        if self.virtual_channels > 1 << layouts.field_width(layouts.LINK_HEADER, "vc"):
            _fail(self.SECTION, "virtual_channels", self.virtual_channels,
                  "the header's vc field has "
                  f"{layouts.field_width(layouts.LINK_HEADER, 'vc')} bits")

    @property
    def port_bits(self) -> int:
        return max(1, (self.ports - 1).bit_length())

    @property
    def vc_bits(self) -> int:
        return max(1, (self.virtual_channels - 1).bit_length())

    @property
    def credits_per_vc(self) -> int:
        """Flits of input buffer each virtual channel may hold: the upstream's credits."""
        return self.input_buffer_flits // self.virtual_channels


@dataclass(frozen=True)
class ChipletParams(_Section):
    """The NVLink Fusion chiplet beside each ASIC: AXI4 on one side, N links on the other."""

    SECTION = "chiplet"

    links: int = 2
    axi_data_bits: int = 512
    axi_id_bits: int = 8
    axi_address_bits: int = 48
    outstanding_tags: int = 64
    #: Cycles within which an ASIC's memory answers a burst on the chiplet's manager port, at
    #: most; the completion time-out (:meth:`completion_timeout_cycles`) allows for it.
    far_memory_cycles: int = 1024

    def __post_init__(self) -> None:
        self._check_types()
        self._positive("links", "axi_id_bits", "axi_address_bits", "far_memory_cycles")
        if self.axi_data_bits not in (32, 64, 128, 256, 512, 1024):
            _fail(self.SECTION, "axi_data_bits", self.axi_data_bits,
                  "AXI4 data widths are 32, 64, 128, 256, 512 or 1024 bits")
        # Reads and writes each have outstanding_tags tags: the top bit of the header's tag
        # field tells them apart (READ_TAG_FLAG in hdl/chiplet/read_signals.py), the next one
        # is a plane tag's generation (GENERATION_FLAG in hdl/chiplet/tag_translate.py).
        tag_width = layouts.TAG_BITS
        per_side = 1 << (tag_width - 2)
        if not 1 <= self.outstanding_tags <= per_side:
            _fail(self.SECTION, "outstanding_tags", self.outstanding_tags,
                  f"the header's tag field has {tag_width} bits, its top bit marks reads and "
                  f"the next a tag's generation, so reads and writes each have 1 to "
                  f"{per_side} tags")
        most_planes = 1 << layouts.field_width(layouts.ADDRESS_EXTENSION_FLIT, "retry_plane")
        if self.links > most_planes:
            _fail(self.SECTION, "links", self.links,
                  f"a repeated request names its plane in {most_planes.bit_length() - 1} bits, "
                  f"so a chiplet has at most {most_planes} links")

    def completion_timeout_cycles(self, link: LinkParams) -> int:
        """Cycles a request may wait for its completion before its plane counts as failed
        (docs/chiplet.md, "End-to-end retry"): twice the worst round trip of the last request
        a plane takes. Every request the plane holds may be ahead of it, both ways
        (``2 x outstanding_tags`` packets of at most ``MAX_PACKET_FLITS`` flits), on two link
        hops each way (chiplet to switch, switch to chiplet), each hop at worst a link round
        trip; then the far memory's ``far_memory_cycles``."""
        queued = 2 * self.outstanding_tags * layouts.MAX_PACKET_FLITS
        return 2 * (2 * queued + 4 * link.round_trip_cycles + self.far_memory_cycles)


@dataclass(frozen=True)
class TileParams(_Section):
    """One generation of Trainium chip, as its NeuronCores and memories see it.

    Figures marked ``extrapolated`` are not public; see docs/presets.md. The fields from
    ``vector_clock_hz`` on feed the tile emulator's cost model (docs/tile.md says which are
    public facts and which are modelling choices).

    Parameters
    ----------
    clock_hz : float
        Tensor-engine clock; the timeline counts cycles of this clock.
    vector_clock_hz, scalar_clock_hz, gpsimd_clock_hz : float
        Clocks of the Vector, Scalar and GpSimd engines.
    tensor_throughput_scale : float
        Tensor-engine throughput relative to a 128 x 128 array doing one bf16
        multiply-accumulate per processing element per cycle.
    min_instruction_cycles : int
        Minimum initiation interval of an engine instruction (the ``MIN_II`` of the NKI docs).
    sbuf_access_cycles : int
        Latency, in cycles of the issuing engine, before a result is visible to other engines.
    dma_queues : int
        DMA queues (engines) serving one NeuronCore.
    dma_latency_ns : float
        Fixed time of one DMA instruction besides its transfer.
    """

    SECTION = "tile"

    generation: str = "trn3"
    clock_hz: float = 2.4e9
    neuron_cores: int = 8
    partitions: int = 128
    sbuf_bytes: int = 32 * 2**20
    psum_banks: int = 8
    psum_bank_bytes_per_partition: int = 2 * 2**10
    hbm_bytes: int = 144 * 2**30
    hbm_bandwidth: float = 4.9e12
    peak_bf16_flops: float = 671e12
    peak_fp8_flops: float = 2517e12
    extrapolated: bool = False
    vector_clock_hz: float = 1.2e9
    scalar_clock_hz: float = 1.2e9
    gpsimd_clock_hz: float = 1.2e9
    tensor_throughput_scale: float = 1.0
    min_instruction_cycles: int = 64
    sbuf_access_cycles: int = 60
    dma_queues: int = 16
    dma_latency_ns: float = 600.0

    def __post_init__(self) -> None:
        self._check_types()
        self._positive("clock_hz", "neuron_cores", "sbuf_bytes", "psum_banks",
                       "psum_bank_bytes_per_partition", "hbm_bytes", "hbm_bandwidth",
                       "peak_bf16_flops", "peak_fp8_flops", "vector_clock_hz",
                       "scalar_clock_hz", "gpsimd_clock_hz", "tensor_throughput_scale",
                       "min_instruction_cycles", "dma_queues")
        if self.partitions != 128:
            _fail(self.SECTION, "partitions", self.partitions,
                  "NeuronCore SBUF and PSUM have 128 partitions")
        for name in ("sbuf_access_cycles", "dma_latency_ns"):
            if getattr(self, name) < 0:
                _fail(self.SECTION, name, getattr(self, name), "it cannot be negative")

    @property
    def sbuf_bytes_per_partition(self) -> int:
        return self.sbuf_bytes // self.partitions

    @property
    def psum_bytes_per_partition(self) -> int:
        return self.psum_banks * self.psum_bank_bytes_per_partition

    @property
    def hbm_bandwidth_per_core(self) -> float:
        """Bytes per second of HBM bandwidth one NeuronCore gets: an even share of the chip."""
        return self.hbm_bandwidth / self.neuron_cores

    @property
    def tensor_peak_flops(self) -> float:
        """Peak bf16 FLOP/s of one NeuronCore's Tensor engine in the cost model."""
        return 2.0 * self.partitions * self.partitions * self.clock_hz \
            * self.tensor_throughput_scale


@dataclass(frozen=True)
class SystemParams(_Section):
    """A scale-up domain: endpoints (ASICs and GPUs), one link from each to every switch plane.

    Each switch chip is one plane; every endpoint has one link to every plane, so all endpoints
    are one switch hop apart.
    """

    SECTION = "system"

    name: str = "custom"
    asics: int = 8
    gpus: int = 0
    switch_chips: int = 2
    switch_chips_per_tray: int = 2
    link: LinkParams = field(default_factory=LinkParams)
    switch: SwitchParams = field(default_factory=SwitchParams)
    chiplet: ChipletParams = field(default_factory=ChipletParams)
    tile: TileParams = field(default_factory=TileParams)

    NESTED = {"link": LinkParams, "switch": SwitchParams, "chiplet": ChipletParams,
              "tile": TileParams}

    def __post_init__(self) -> None:
        for name, kind in self.NESTED.items():
            if not isinstance(getattr(self, name), kind):
                _fail(self.SECTION, name, getattr(self, name), f"it must be a {kind.__name__}")
        scalars = {item.name for item in fields(self)} - set(self.NESTED)
        hints = typing.get_type_hints(type(self))
        for name in scalars:
            value, expected = getattr(self, name), hints[name]
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                _fail(self.SECTION, name, value, f"it must be of type {expected.__name__}")
        self._positive("asics", "switch_chips", "switch_chips_per_tray")
        if self.gpus < 0:
            _fail(self.SECTION, "gpus", self.gpus, "it cannot be negative")
        node_bits = layouts.field_width(layouts.TRANSACTION_HEADER, "destination")
        if self.endpoints > 1 << node_bits:
            _fail(self.SECTION, "asics", self.asics,
                  f"asics + gpus must fit the {node_bits}-bit destination ID "
                  f"(at most {1 << node_bits})")
        if self.switch.ports < self.endpoints:
            _fail("switch", "ports", self.switch.ports,
                  f"every one of the {self.endpoints} endpoints needs a port on each switch chip")
        if self.chiplet.links != self.switch_chips:
            _fail("chiplet", "links", self.chiplet.links,
                  f"each link goes to its own switch plane, so it must equal "
                  f"system.switch_chips = {self.switch_chips}")
        if self.switch_chips % self.switch_chips_per_tray:
            _fail(self.SECTION, "switch_chips_per_tray", self.switch_chips_per_tray,
                  f"it must divide system.switch_chips = {self.switch_chips}")
        if self.switch.virtual_channels != self.link.virtual_channels:
            _fail("switch", "virtual_channels", self.switch.virtual_channels,
                  f"switch ports carry the link's {self.link.virtual_channels} virtual channels")

    @property
    def endpoints(self) -> int:
        return self.asics + self.gpus

    @property
    def links_per_endpoint(self) -> int:
        return self.chiplet.links

    @property
    def trays(self) -> int:
        return self.switch_chips // self.switch_chips_per_tray

    @property
    def bandwidth_per_endpoint(self) -> float:
        """Bidirectional bytes per second of one endpoint over all its links."""
        return self.links_per_endpoint * self.link.bandwidth_bidirectional

    @property
    def bandwidth_per_switch_chip(self) -> float:
        """Bidirectional bytes per second through one switch chip, all ports."""
        return self.switch.ports * self.link.bandwidth_bidirectional

    @property
    def aggregate_bandwidth(self) -> float:
        """Bidirectional bytes per second of all endpoints together."""
        return self.endpoints * self.bandwidth_per_endpoint

    def summary(self) -> dict[str, Any]:
        """The derived figures that ``fusion-emu spec`` prints."""
        return {
            "preset": self.name,
            "asics": self.asics,
            "gpus": self.gpus,
            "endpoints": self.endpoints,
            "links_per_endpoint": self.links_per_endpoint,
            "switch_chips": self.switch_chips,
            "switch_ports": self.switch.ports,
            "switch_chips_per_tray": self.switch_chips_per_tray,
            "trays": self.trays,
            "virtual_channels": self.link.virtual_channels,
            "link_clock_hz": self.link.clock_hz,
            "link_bandwidth_per_direction_Bps": self.link.bandwidth_per_direction,
            "bandwidth_per_endpoint_Bps": self.bandwidth_per_endpoint,
            "bandwidth_per_switch_chip_Bps": self.bandwidth_per_switch_chip,
            "aggregate_bandwidth_Bps": self.aggregate_bandwidth,
            "tile_generation": self.tile.generation,
            "tile_extrapolated": self.tile.extrapolated,
        }

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, config: Mapping[str, Any], base: Any = None) -> SystemParams:
        """Build from a nested mapping: system fields at the top, one table per section."""
        if not isinstance(config, Mapping):
            raise ConfigError(f"A system configuration must be a table, not {config!r}.")
        base = base if base is not None else cls()
        nested = {}
        for name, kind in cls.NESTED.items():
            section = config.get(name, {})
            nested[name] = kind.from_dict(section, getattr(base, name))
        top = {key: value for key, value in config.items() if key not in cls.NESTED}
        names = {item.name for item in fields(cls)} - set(cls.NESTED)
        if unknown := sorted(set(top) - names):
            raise ConfigError(f"Unknown system parameter(s) {unknown}; valid ones are "
                              f"{sorted(names)} and the tables {sorted(cls.NESTED)}.")
        return dataclasses.replace(base, **top, **nested)


TILE_GENERATIONS: dict[str, TileParams] = {
    # The NKI Trainium2 guide lists the Vector engine at 0.96 GHz.
    "trn2": TileParams(generation="trn2", clock_hz=2.8e9, neuron_cores=8,
                       sbuf_bytes=24 * 2**20, hbm_bytes=96 * 2**30, hbm_bandwidth=2.9e12,
                       peak_bf16_flops=667e12, peak_fp8_flops=1299e12,
                       vector_clock_hz=0.96e9),
    "trn3": TileParams(),
    # Trainium4 is announced, not described: 3x Trainium3's FP8 compute and 4x its memory
    # bandwidth are the public targets; the rest repeats Trainium3 (docs/presets.md). The
    # Tensor engine is scaled 3x to match; docs/tile.md lists this as an extrapolation.
    "trn4": TileParams(generation="trn4", hbm_bandwidth=4 * 4.9e12,
                       peak_bf16_flops=3 * 671e12, peak_fp8_flops=3 * 2517e12,
                       tensor_throughput_scale=3.0, extrapolated=True),
}


def _nvl72(name: str, asics: int, gpus: int) -> SystemParams:
    return SystemParams(
        name=name, asics=asics, gpus=gpus, switch_chips=36, switch_chips_per_tray=4,
        link=LinkParams(clock_hz=3.125e9),
        switch=SwitchParams(ports=72, input_buffer_flits=256),
        chiplet=ChipletParams(links=36),
        tile=TILE_GENERATIONS["trn4"],
    )


PRESETS: dict[str, SystemParams] = {
    "small": SystemParams(name="small"),
    "trn4-nvl72": _nvl72("trn4-nvl72", asics=72, gpus=0),
    "hybrid-nvl72": _nvl72("hybrid-nvl72", asics=36, gpus=36),
    # 144 Trainium3 chips in one all-to-all domain at 2.56 TB/s each: 32 links of 80 GB/s.
    # The real UltraServer switches in two levels; here every plane is one 144-port switch.
    "trn3-ultraserver": SystemParams(
        name="trn3-ultraserver", asics=144, switch_chips=32, switch_chips_per_tray=4,
        link=LinkParams(clock_hz=2.5e9),
        switch=SwitchParams(ports=144, input_buffer_flits=256),
        chiplet=ChipletParams(links=32),
        tile=TILE_GENERATIONS["trn3"],
    ),
}


def preset(name: str) -> SystemParams:
    """The named preset, or a :class:`ConfigError` listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"Unknown preset {name!r}; valid presets are "
                          f"{', '.join(sorted(PRESETS))}.") from None


def load_config(path: str | Path) -> SystemParams:
    """Read a TOML configuration file.

    The file may name a ``preset`` to start from (default ``small``) and override any field:
    system fields at the top level, the others in ``[link]``, ``[switch]``, ``[chiplet]`` and
    ``[tile]`` tables.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"Cannot read configuration file {str(path)!r}: "
                          f"{error.strerror}.") from None
    try:
        config = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}.") from None
    base = preset(config.pop("preset", "small"))
    return SystemParams.from_dict(config, base)
