"""Switch cycle model against the reference: routes, drops, order, throughput, latency."""

from __future__ import annotations

import numpy as np
import pytest

from emulator.cycle.switch import (
    NO_ROUTE,
    PARTITION,
    SPOOFED,
    SwitchConfig,
    SwitchModel,
    SwitchStimulus,
)
from emulator.cycle.traffic import make_traffic
from emulator.ref.switch import expected_outputs, flows_in_order
from hdl.params import SwitchParams


def concatenate(*parts: SwitchStimulus) -> SwitchStimulus:
    return SwitchStimulus(*(np.concatenate([getattr(part, name) for part in parts])
                            for name in SwitchStimulus.__dataclass_fields__))


def check_against_reference(model: SwitchModel, stimulus: SwitchStimulus, cycles: int):
    result = model.run(stimulus, cycles)
    expected = expected_outputs(model.config, stimulus)
    kept = expected >= 0
    assert np.all(result.delivered[kept] >= 0), "a packet that should pass was lost"
    assert np.all(result.output[kept] == expected[kept]), "a packet left at the wrong port"
    assert np.all(result.delivered[~kept] == -1), "a packet that should be dropped got through"
    for reason in (NO_ROUTE, PARTITION, SPOOFED):
        assert result.drops[reason] == np.sum(expected == -1 - reason)
    dropped_requests = np.flatnonzero(~kept & stimulus.non_posted)
    assert sorted(result.error_completions) == list(dropped_requests)
    # Every error completion goes back out of its request's port, after the request came in.
    assert np.all(result.error_delivered > result.entered[result.error_completions])
    assert np.all(result.error_delivered == result.error_started + 1)
    assert np.all(result.delivered[kept] > stimulus.created[kept])
    # Taken at the ingress, allocated a cycle later at the earliest, tail one cycle after the
    # last flit crossed.
    assert np.all(result.entered >= stimulus.created)
    assert np.all(result.started[kept] > result.entered[kept])
    assert np.all(result.delivered[kept] == result.started[kept] + stimulus.length[kept])
    assert np.all(result.started[~kept] == -1)
    assert flows_in_order(stimulus, result.delivered)
    return result


@pytest.mark.parametrize(("ports", "vcs"), [(8, 2), (16, 4)])
def test_random_traffic_mixed_lengths_no_loss_in_order(ports: int, vcs: int) -> None:
    model = SwitchModel(SwitchParams(ports=ports, virtual_channels=vcs,
                                     input_buffer_flits=32 * vcs))
    stimulus = concatenate(*(make_traffic(ports, 0.25, length, 2000, "uniform", vcs, seed=length)
                             for length in (1, 3, 8)))
    check_against_reference(model, stimulus, 6000)


def test_partitions_and_spoofing_counted_exactly() -> None:
    ports = 8
    config = SwitchConfig.identity(ports)
    config.partition[:] = [0, 0, 0, 0, 1, 1, 1, 1]
    config.route[6] = -1  # endpoint 6 is not in the table
    stimulus = make_traffic(ports, 0.3, 2, 3000, "uniform", 2, seed=4)
    rng = np.random.default_rng(5)
    spoof = rng.random(len(stimulus)) < 0.05
    stimulus.source_id[spoof] = (stimulus.source_id[spoof] + 1) % ports
    model = SwitchModel(SwitchParams(ports=ports), config)
    result = check_against_reference(model, stimulus, 8000)
    assert result.drops[PARTITION] > 0 and result.drops[SPOOFED] > 0 and result.drops[NO_ROUTE] > 0
    crossed = (config.partition[result.output[result.output >= 0]]
               != config.partition[stimulus.source_port[result.output >= 0]])
    assert not np.any(crossed)


def test_permutation_traffic_at_full_load_is_carried_in_full() -> None:
    ports = 16
    model = SwitchModel(SwitchParams(ports=ports, islip_iterations=1))
    stimulus = make_traffic(ports, 1.0, 1, 3000, "permutation", seed=6)
    result = check_against_reference(model, stimulus, 3100)
    window = (result.delivered >= 1000) & (result.delivered < 2000)
    assert window.sum() == 1000 * ports  # every port delivers one flit every cycle


@pytest.mark.parametrize("length", [1, 4, 9])
def test_zero_load_latency(length: int) -> None:
    ports = 8
    created = np.arange(0, 2000, 100, dtype=np.int64)
    count = len(created)
    stimulus = SwitchStimulus(created, created % ports, created % ports, (created + 3) % ports,
                              np.zeros(count, dtype=np.int64),
                              np.full(count, length, dtype=np.int64), np.zeros(count, bool))
    result = check_against_reference(SwitchModel(SwitchParams(ports=ports)), stimulus, 2100)
    assert np.all(result.delivered - created == 2 + (length - 1))


def test_packet_longer_than_a_vc_buffer_is_refused() -> None:
    model = SwitchModel(SwitchParams(ports=4, input_buffer_flits=64))
    with pytest.raises(ValueError, match="does not fit the 32 flits of buffer per VC"):
        model.run(make_traffic(4, 0.5, 33, 100), 100)


@pytest.mark.parametrize("delay", [0, 5])
def test_sink_delay_holds_the_credits_back(delay: int) -> None:
    # Two 18-flit packets to one output whose 32 credits per VC fit only one at a time: the
    # second starts when the first's credits return, credit_return_cycles plus the sink's
    # delay after the first's tail was delivered.
    two = np.ones(2, dtype=np.int64)
    stimulus = SwitchStimulus(created=0 * two, source_port=0 * two, source_id=0 * two,
                              destination=two, vc=0 * two, length=18 * two,
                              non_posted=np.zeros(2, bool), sink_delay=np.array([delay, 0]))
    model = SwitchModel(SwitchParams(ports=2, input_buffer_flits=64), credit_return_cycles=2)
    result = check_against_reference(model, stimulus, 200)
    assert result.started[1] == result.delivered[0] + 2 + delay
