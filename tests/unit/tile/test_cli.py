"""The `fusion-emu kernel` subcommand: reports, outputs and one-line errors."""

import argparse
import json

import pytest

from emulator.tile import cli

MATMUL = "emulator/tile/examples/matmul.py::matmul_kernel"


def _line(path: str, text: str) -> int:
    lines = open(path).read().splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


RULE_LINE = _line("tests/unit/tile/test_rules.py", "# rule: moving")
ASSERT_LINE = _line("emulator/tile/examples/matmul.py", "assert contraction % TILE_K")


def _run(tmp_path, *arguments: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    return cli.run(parser.parse_args([*arguments, "--out", str(tmp_path)]))


def test_kernel_against_reference_writes_outputs(tmp_path, capsys) -> None:
    reference = tmp_path / "reference.py"
    reference.write_text("def matmul(lhsT, rhs):\n    return lhsT.T @ rhs\n")
    status = _run(tmp_path, MATMUL, "--shapes", "256x128,256x1024", "--preset", "small",
                  "--reference", f"{reference}::matmul")
    assert status == 0
    output = capsys.readouterr().out
    assert "matches the reference" in output and "fraction of peak" in output
    summary = json.loads((tmp_path / "matmul_kernel.report.json").read_text())
    assert summary["reference"]["passed"] and summary["generation"] == "trn3"
    assert (tmp_path / "matmul_kernel.trace.json").exists()
    assert (tmp_path / "matmul_kernel.utilisation.png").exists()


def test_wrong_reference_fails(tmp_path) -> None:
    reference = tmp_path / "reference.py"
    reference.write_text("def matmul(lhsT, rhs):\n    return lhsT.T @ rhs + 1\n")
    assert _run(tmp_path, MATMUL, "--shapes", "128x128,128x512", "--reference",
                f"{reference}::matmul") == 1


@pytest.mark.parametrize(("arguments", "message"), [
    (["missing.py::kernel", "--shapes", "4x4"], "does not exist"),
    ([MATMUL, "--shapes", "128xfoo"], "bad shape '128xfoo'"),
    ([MATMUL, "--shapes", "128x128,128x512", "--dtype", "float64"], "unknown --dtype"),
    ([MATMUL, "--shapes", "128x128,128x512", "--preset", "nope"], "Unknown preset 'nope'"),
    (["tests/unit/tile/test_rules.py::_wide_moving", "--shapes", "128x64"],
     f"test_rules.py:{RULE_LINE}: error: [matmul-free-size]"),
    ([MATMUL, "--shapes", "100x128,100x512"], f"matmul.py:{ASSERT_LINE}: AssertionError"),
])
def test_user_errors_print_one_line(tmp_path, capsys, arguments, message) -> None:
    assert _run(tmp_path, *arguments) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("error: ") and message in error
    assert "Traceback" not in error
