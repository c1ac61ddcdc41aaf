"""Layouts: the header flit adds up to 128 bits and packs and unpacks through one definition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hdl.layouts import (
    ADDRESS_EXTENSION_FLIT,
    FLIT_BITS,
    HEADER_BODY,
    HEADER_FLIT,
    LINK_HEADER,
    TRANSACTION_HEADER,
    Command,
    FlitKind,
    field_slice,
    pack,
    unpack,
)

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"


def test_header_flit_is_crc_link_transaction() -> None:
    assert HEADER_FLIT.size == FLIT_BITS
    assert field_slice(HEADER_FLIT, "crc") == (103, 25)
    assert field_slice(HEADER_FLIT, "body", "link") == (83, 20)
    assert field_slice(HEADER_FLIT, "body", "message") == (0, 83)


@given(length=st.integers(0, 17), vc=st.integers(0, 3), destination=st.integers(0, 1023),
       address=st.integers(0, 2**40 - 1), command=st.sampled_from(list(Command)))
def test_pack_unpack_round_trip(length, vc, destination, address, command) -> None:
    bits = pack(HEADER_BODY, {"link": {"kind": FlitKind.PACKET, "length": length, "vc": vc},
                              "message": {"transaction": {"command": command,
                                                          "destination": destination,
                                                          "address": address}}})
    view = unpack(HEADER_BODY, bits)
    assert (view.link.length, view.link.vc) == (length, vc)
    transaction = view.message.transaction
    assert (transaction.command, transaction.destination, transaction.address) == (
        command, destination, address)
    offset, width = field_slice(HEADER_BODY, "message", "transaction", "destination")
    assert (bits >> offset) & ((1 << width) - 1) == destination


@pytest.mark.parametrize("fields", [{"length": 32}, {"vc": 4}, {"kind": 5}])
def test_pack_refuses_values_that_do_not_fit(fields) -> None:
    with pytest.raises(ValueError):
        pack(LINK_HEADER, fields)


def _documented_fields(section: str) -> dict[str, int]:
    """Field widths in the table under the ``## section`` heading of docs/protocol.md."""
    text = PROTOCOL.read_text()
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return {name: int(width) for name, width in
            re.findall(r"^\| `(\w+)` \| (\d+) \|", body, flags=re.MULTILINE)}


@pytest.mark.parametrize(("section", "layout"), [
    ("Link header", LINK_HEADER), ("Transaction header", TRANSACTION_HEADER),
    ("Address-extension flit", ADDRESS_EXTENSION_FLIT)])
def test_protocol_document_matches_layouts(section: str, layout) -> None:
    documented = _documented_fields(section)
    actual = {name: field_slice(layout, name)[1] for name, _ in layout}
    assert documented == actual
