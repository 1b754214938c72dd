"""``wasm-workbench kernel install | uninstall | run`` through the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main


def test_install_with_policy_options_into_a_prefix(tmp_path: Path) -> None:
    assert (
        main(
            [
                "kernel",
                "install",
                "--prefix",
                str(tmp_path),
                "--policy",
                "conservative",
                "--set",
                "fuel_budget=5e9",
                "--session",
                "shared-project",
            ]
        )
        == 0
    )
    folder = tmp_path / "share" / "jupyter" / "kernels"
    python = json.loads((folder / "wasm-python" / "kernel.json").read_text())
    javascript = json.loads((folder / "wasm-javascript" / "kernel.json").read_text())
    assert python["display_name"] == "WASM Python"
    assert javascript["display_name"] == "WASM JavaScript"
    argv = python["argv"]
    assert argv[argv.index("--policy") + 1] == "conservative"
    assert argv[argv.index("--set") + 1] == "fuel_budget=5e9"
    assert argv[argv.index("--session") + 1] == "shared-project"
    assert javascript["argv"][javascript["argv"].index("--runtime") + 1] == "javascript"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--policy", "nope"], "No policy preset named 'nope'"),
        (["--set", "unknown=1"], "unknown setting"),
        (["--session", "../../etc"], "Session id"),
    ],
)
def test_install_refuses_bad_options(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["kernel", "install", "--prefix", str(tmp_path), *args])
    assert status == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "share").exists()  # nothing half-installed


def test_kernel_run_reports_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kernel", "run", "--runtime", "python", "--session", "a/b"]) == 2
    assert "Session id" in capsys.readouterr().err


def test_kernel_without_subcommand_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kernel"]) == 2
    assert "install, uninstall or run" in capsys.readouterr().err
