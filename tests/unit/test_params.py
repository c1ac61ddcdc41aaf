"""Parameters: presets reproduce the public figures; bad values are refused with one sentence."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hdl.chiplet.read_signals import READ_TAG_FLAG
from hdl.layouts import TRANSACTION_HEADER, field_width
from hdl.params import (
    PRESETS,
    ChipletParams,
    ConfigError,
    LinkParams,
    SwitchParams,
    SystemParams,
    load_config,
    preset,
)


def test_trn4_nvl72_public_figures() -> None:
    system = preset("trn4-nvl72")
    assert system.endpoints == 72
    assert system.links_per_endpoint == 36
    assert (system.switch_chips, system.switch.ports) == (36, 72)
    assert (system.trays, system.switch_chips_per_tray) == (9, 4)
    assert system.link.bandwidth_per_direction == pytest.approx(50e9)
    assert system.bandwidth_per_endpoint == pytest.approx(3.6e12)
    assert system.bandwidth_per_switch_chip == pytest.approx(7.2e12)
    assert system.aggregate_bandwidth == pytest.approx(259.2e12)


def test_hybrid_and_ultraserver() -> None:
    hybrid = preset("hybrid-nvl72")
    assert (hybrid.asics, hybrid.gpus, hybrid.endpoints) == (36, 36, 72)
    assert hybrid.aggregate_bandwidth == pytest.approx(259.2e12)
    ultra = preset("trn3-ultraserver")
    assert ultra.asics == 144
    assert ultra.bandwidth_per_endpoint == pytest.approx(2.56e12)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_dict(name: str) -> None:
    system = PRESETS[name]
    assert SystemParams.from_dict(system.to_dict()) == system


def test_unknown_preset_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="valid presets are hybrid-nvl72, small"):
        preset("nvl73")


@pytest.mark.parametrize(("make", "message"), [
    (lambda: LinkParams(virtual_channels=1), r"link.virtual_channels = 1 .* 2 to 4"),
    (lambda: LinkParams(clock_hz=0), r"link.clock_hz = 0.0 .* greater than zero"),
    (lambda: SwitchParams(input_buffer_flits=48), r"power of two"),
    (lambda: SwitchParams(virtual_channels=4, input_buffer_flits=64),
     r"room for a whole packet of 18 flits, so at least 72"),
    (lambda: SwitchParams(virtual_channels=8, input_buffer_flits=256), r"vc field has 2 bits"),
    (lambda: ChipletParams(axi_data_bits=48), r"AXI4 data widths"),
    (lambda: ChipletParams(outstanding_tags=300), r"tag field has 8 bits"),
    (lambda: ChipletParams(outstanding_tags=65), r"marks reads and the next .* 1 to 64 tags"),
    (lambda: SystemParams(asics=9), r"switch.ports = 8 .* 9 endpoints"),
    (lambda: SystemParams(switch_chips=3, switch_chips_per_tray=3), r"chiplet.links = 2"),
    (lambda: SwitchParams(ports="8"), r"must be of type int"),
])
def test_bad_values_name_field_and_rule(make, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make()


def test_read_tags_fit_beside_write_tags() -> None:
    """Every tag a read can carry (READ_TAG_FLAG set), with a plane's generation bit
    (READ_TAG_FLAG >> 1), is free of the write tags and of the generation bit."""
    generation = READ_TAG_FLAG >> 1
    most = ChipletParams(outstanding_tags=generation).outstanding_tags
    assert (most - 1) & (READ_TAG_FLAG | generation) == 0
    assert (READ_TAG_FLAG | generation | (most - 1)) < 1 << field_width(TRANSACTION_HEADER,
                                                                         "tag")
    with pytest.raises(ConfigError):
        ChipletParams(outstanding_tags=generation + 1)


@given(st.integers(min_value=-4, max_value=12))
def test_virtual_channels_accepted_exactly_in_range(count: int) -> None:
    if 2 <= count <= 4:
        assert LinkParams(virtual_channels=count).vc_bits == max(1, (count - 1).bit_length())
    else:
        with pytest.raises(ConfigError):
            LinkParams(virtual_channels=count)


def test_params_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PRESETS["small"].link.clock_hz = 1.0  # type: ignore[misc]


def test_config_file_overrides_preset(tmp_path) -> None:
    path = tmp_path / "fabric.toml"
    path.write_text('preset = "trn4-nvl72"\nasics = 64\n[link]\npipeline_latency_cycles = 40\n')
    system = load_config(path)
    assert system.asics == 64 and system.link.pipeline_latency_cycles == 40
    assert system.switch.ports == 72


@pytest.mark.parametrize(("text", "message"), [
    ("[link\n", "is not valid TOML"),
    ("[link]\nclock = 1\n", r"Unknown link parameter\(s\) \['clock'\]"),
    ("colour = 1\n", r"Unknown system parameter\(s\) \['colour'\]"),
    ('preset = "huge"\n', "Unknown preset 'huge'"),
    ("link = 3\n", r"\[link\] must be a table"),
])
def test_malformed_config_files(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_link_sizes_follow_the_round_trip() -> None:
    near, far = LinkParams(pipeline_latency_cycles=4), LinkParams(pipeline_latency_cycles=200)
    assert far.round_trip_cycles - near.round_trip_cycles == 2 * (200 - 4)
    for link in (near, far):
        assert link.credit_pool_flits >= link.credit_round_trip_cycles
        assert link.replay_buffer_depth >= link.round_trip_cycles + 18
        assert link.replay_buffer_depth & (link.replay_buffer_depth - 1) == 0
        assert link.ack_timeout > link.round_trip_cycles
        assert link.warnings() == []


def test_undersized_link_buffers_warned_or_refused() -> None:
    (warning,) = LinkParams(credits_per_vc=30).warnings()
    assert "at most 34% of the link rate" in warning
    with pytest.raises(ConfigError, match="could never be sent"):
        LinkParams(credits_per_vc=10)
    with pytest.raises(ConfigError, match="power of two"):
        LinkParams(replay_buffer_flits=100)
