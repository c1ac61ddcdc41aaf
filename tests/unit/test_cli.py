"""The fusion-emu command line: figures, and one clear line for every configuration mistake."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def fusion_emu(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator.cli", *args], capture_output=True,
                          text=True, check=False, cwd=cwd, timeout=300)


def test_spec_json_trn4_nvl72() -> None:
    result = fusion_emu("spec", "--preset", "trn4-nvl72", "--json")
    assert result.returncode == 0, result.stderr
    spec = json.loads(result.stdout)
    assert (spec["asics"], spec["links_per_endpoint"], spec["switch_chips"]) == (72, 36, 36)
    assert (spec["switch_ports"], spec["trays"]) == (72, 9)
    assert spec["link_bandwidth_per_direction_Bps"] == pytest.approx(50e9)
    assert spec["bandwidth_per_endpoint_Bps"] == pytest.approx(3.6e12)
    assert spec["aggregate_bandwidth_Bps"] == pytest.approx(259.2e12)


def test_spec_table_names_the_figures() -> None:
    result = fusion_emu("spec", "--preset", "trn4-nvl72")
    assert result.returncode == 0
    assert "259.2 TB/s" in result.stdout and "3.6 TB/s" in result.stdout


def _assert_one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], lines


def test_unknown_preset(tmp_path) -> None:
    _assert_one_line_error(fusion_emu("spec", "--preset", "dgx"),
                           "valid presets are hybrid-nvl72, small, trn3-ultraserver, trn4-nvl72")


@pytest.mark.parametrize(("text", "message"), [
    ("[link]\nvirtual_channels = 7\n", "link.virtual_channels = 7 is not allowed"),
    ("[switch\nports = 8\n", "is not valid TOML"),
    ("[chiplet]\nlanes = 4\n", "Unknown chiplet parameter(s) ['lanes']"),
])
def test_bad_config_file(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "fabric.toml"
    path.write_text(text)
    _assert_one_line_error(fusion_emu("spec", "--config", str(path)), message)


def test_missing_config_file(tmp_path) -> None:
    _assert_one_line_error(fusion_emu("spec", "--config", str(tmp_path / "none.toml")),
                           "Cannot read configuration file")


def test_run_checks_rtl_against_reference_and_writes_waveform(tmp_path) -> None:
    result = fusion_emu("run", "--packets", "8", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "reference model: match" in result.stdout
    assert (tmp_path / "framing.vcd").stat().st_size > 0
    assert (tmp_path / "framing.gtkw").exists()


def test_run_refuses_bad_options() -> None:
    _assert_one_line_error(fusion_emu("run", "--packets", "0"), "--packets 0")
