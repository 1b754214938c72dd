"""Execution policies: defaults, validation messages, TOML files and presets."""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from workbench.sandbox import (
    ExecutionPolicy,
    Mount,
    PolicyError,
    SandboxError,
    list_presets,
    load_policy,
    parse_policy_setting,
    policy_field_help,
)
from workbench.sandbox._policy import format_bytes, format_fuel

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
POLICIES = Path(__file__).resolve().parents[2] / "policies"


def policy_error(**values: Any) -> str:
    """The message of the PolicyError that ``ExecutionPolicy.create(**values)`` raises."""
    with pytest.raises(PolicyError) as info:
        ExecutionPolicy.create(**values)
    return str(info.value)


# ---- Defaults


def test_defaults() -> None:
    policy = ExecutionPolicy()
    assert policy.fuel_budget == 2_000_000_000
    assert policy.memory_bytes == 128 * MIB
    assert policy.timeout_seconds == 30.0
    assert policy.stdout_max_bytes == 1 * MIB
    assert policy.stderr_max_bytes == 256 * KIB
    assert policy.max_open_files == 128
    assert policy.workspace_max_bytes == 256 * MIB
    assert policy.workspace_max_files == 10_000
    assert policy.env == {}
    assert policy.env_allowlist == []
    assert policy.mounts == []
    assert policy.argv == []


def test_default_preset_matches_the_model_defaults() -> None:
    assert load_policy("default") == ExecutionPolicy()
    assert load_policy() == ExecutionPolicy()


def test_policy_is_immutable() -> None:
    policy = ExecutionPolicy()
    with pytest.raises(ValidationError):
        policy.fuel_budget = 5  # type: ignore[misc]
    assert policy.fuel_budget == 2_000_000_000


def test_policy_error_is_a_value_error_and_a_sandbox_error() -> None:
    assert issubclass(PolicyError, ValueError)
    assert issubclass(PolicyError, SandboxError)


# ---- Invalid values


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("fuel_budget", 5, "Allowed: 1 M to 1 T."),
        ("fuel_budget", 2 * 10**12, "Allowed: 1 M to 1 T."),
        ("memory_bytes", 10**12, "Allowed: 32 MiB to 4 GiB."),
        ("memory_bytes", 1 * MIB, "Allowed: 32 MiB to 4 GiB."),
        ("timeout_seconds", 0, "Allowed: 0.05 s to 3600 s."),
        ("timeout_seconds", -1.0, "Allowed: 0.05 s to 3600 s."),
        ("timeout_seconds", 3601, "Allowed: 0.05 s to 3600 s."),
        ("stdout_max_bytes", -1, "Allowed: 0 B to 64 MiB."),
        ("stderr_max_bytes", -1, "Allowed: 0 B to 64 MiB."),
        ("stdout_max_bytes", 65 * MIB, "Allowed: 0 B to 64 MiB."),
        ("max_open_files", -1, "Allowed: 4 to 1,024."),
        ("max_open_files", 3, "Allowed: 4 to 1,024."),
        ("workspace_max_bytes", -1, "Allowed: 0 B to 64 GiB."),
        ("workspace_max_files", -3, "Allowed: 0 to 1,000,000."),
    ],
)
def test_out_of_range_values_name_the_field_and_range(field: str, value: Any, allowed: str) -> None:
    message = policy_error(**{field: value})
    assert message.startswith(f"{field}:")
    assert allowed in message
    assert f"(got {value!r})" in message


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_timeouts_are_refused(value: float) -> None:
    message = policy_error(timeout_seconds=value)
    assert message.startswith("timeout_seconds:")
    assert "Allowed: 0.05 s to 3600 s." in message


def test_wrong_type_names_the_field() -> None:
    message = policy_error(fuel_budget="lots")
    assert message.startswith("fuel_budget:")
    assert "'lots'" in message
    assert "Allowed: 1 M to 1 T." in message


def test_unknown_key_lists_the_known_settings() -> None:
    message = policy_error(fuel=5)
    assert message.startswith("fuel: unknown setting.")
    assert "Known settings:" in message
    for name in ExecutionPolicy.model_fields:
        assert name in message


def test_several_problems_are_all_reported() -> None:
    message = policy_error(fuel_budget=5, memory_bytes=1)
    assert "fuel_budget:" in message
    assert "memory_bytes:" in message


def test_with_updates_validates_and_returns_a_copy() -> None:
    policy = ExecutionPolicy()
    updated = policy.with_updates(timeout_seconds=2, fuel_budget=5_000_000_000)
    assert updated.timeout_seconds == 2.0
    assert updated.fuel_budget == 5_000_000_000
    assert policy.timeout_seconds == 30.0  # the original is untouched
    assert updated.memory_bytes == policy.memory_bytes


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"fuel_budget": 5}, "fuel_budget:"),
        ({"memory_bytes": 10**12}, "memory_bytes:"),
        ({"timeout_seconds": math.nan}, "timeout_seconds:"),
        ({"nosuch": 1}, "nosuch: unknown setting."),
    ],
)
def test_with_updates_refuses_invalid_changes(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PolicyError, match=fragment):
        ExecutionPolicy().with_updates(**changes)


# ---- Environment


@pytest.mark.parametrize(
    "name",
    ["PYTHONPATH", "PYTHONHOME", "pythonpath", "PYTHONSTARTUP", "WASMTIME_LOG", "A=B", "A\x00B"],
)
def test_forbidden_env_names_are_refused(name: str) -> None:
    message = policy_error(env={name: "x"})
    assert message.startswith("env:")
    assert repr(name) in message


@pytest.mark.parametrize("name", ["", "A\nB", "PYTHONPATH", "X=Y"])
def test_forbidden_allowlist_names_are_refused(name: str) -> None:
    message = policy_error(env_allowlist=[name])
    assert message.startswith("env_allowlist:")


def test_env_value_with_nul_is_refused() -> None:
    assert "NUL" in policy_error(env={"NAME": "a\x00b"})


def test_env_values_may_contain_equals_signs() -> None:
    policy = ExecutionPolicy.create(env={"LANG": "C.UTF-8", "OPTS": "a=b=c"})
    assert policy.env == {"LANG": "C.UTF-8", "OPTS": "a=b=c"}


def test_argv_with_nul_is_refused() -> None:
    assert policy_error(argv=["ok", "bad\x00"]).startswith("argv:")


def test_guest_environment_passes_only_allow_listed_names_plus_env() -> None:
    policy = ExecutionPolicy(env_allowlist=["HOME", "NOT_SET"], env={"LANG": "C", "HOME": "/app"})
    host = {"HOME": "/home/me", "SECRET_TOKEN": "s3cret", "LANG": "de_DE", "PATH": "/bin"}
    # env wins over a passed-through host value of the same name.
    assert policy.guest_environment(host_env=host) == {"HOME": "/app", "LANG": "C"}
    only_allowlist = ExecutionPolicy(env_allowlist=["HOME", "NOT_SET"])
    assert only_allowlist.guest_environment(host_env=host) == {"HOME": "/home/me"}


def test_guest_environment_is_empty_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "s3cret")
    assert ExecutionPolicy().guest_environment() == {}
    assert ExecutionPolicy(env_allowlist=["SECRET_TOKEN"]).guest_environment() == {
        "SECRET_TOKEN": "s3cret"
    }


# ---- Mounts


@pytest.mark.parametrize(
    ("guest_path", "fragment"),
    [
        ("data/input", "must be an absolute path"),
        ("/data/../etc", "must be an absolute path"),
        ("/..", "must be an absolute path"),
        ("/", "must be an absolute path"),
        ("/app", "overlaps /app"),
        ("/app/sub", "overlaps /app"),
        ("/data", "overlaps /data/site-packages"),
        ("/data/site-packages", "overlaps /data/site-packages"),
        ("/data/site-packages/pkg", "overlaps /data/site-packages"),
    ],
)
def test_bad_mount_guest_paths_are_refused(guest_path: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        Mount(host_path="/tmp", guest_path=guest_path)
    message = policy_error(mounts=[{"host_path": "/tmp", "guest_path": guest_path}])
    assert message.startswith("mounts.0.guest_path:")
    assert fragment in message


@pytest.mark.parametrize(
    ("guest_path", "stored"),
    [
        ("/data/input", "/data/input"),
        ("/mnt/x", "/mnt/x"),
        ("/application", "/application"),  # shares a prefix with /app, not a path
        ("/data/input//", "/data/input"),
        ("/data/site-packages2", "/data/site-packages2"),
    ],
)
def test_good_mount_guest_paths_are_normalised(guest_path: str, stored: str) -> None:
    assert Mount(host_path="/tmp", guest_path=guest_path).guest_path == stored


@pytest.mark.parametrize("host_path", ["", "/tmp/a\x00b"])
def test_bad_mount_host_paths_are_refused(host_path: str) -> None:
    with pytest.raises(ValidationError, match="host_path"):
        Mount(host_path=host_path, guest_path="/data/input")


def test_mount_refuses_unknown_keys() -> None:
    message = policy_error(mounts=[{"host_path": "/tmp", "guest_path": "/x", "rw": True}])
    assert "mounts.0.rw" in message


# ---- TOML


def full_policy() -> ExecutionPolicy:
    return ExecutionPolicy(
        fuel_budget=5_000_000_000,
        memory_bytes=256 * MIB,
        timeout_seconds=2.5,
        stdout_max_bytes=0,
        stderr_max_bytes=4 * KIB,
        max_open_files=16,
        workspace_max_bytes=1 * GIB,
        workspace_max_files=7,
        env={"LANG": "C", "OPTS": "a=b"},
        env_allowlist=["HOME"],
        mounts=[Mount(host_path="/tmp", guest_path="/data/input")],
        argv=["x", "--flag", "with space"],
    )


@pytest.mark.parametrize("policy", [ExecutionPolicy(), full_policy()], ids=["default", "full"])
def test_toml_round_trip(policy: ExecutionPolicy) -> None:
    text = policy.to_toml("a description")
    assert ExecutionPolicy.from_toml_string(text) == policy


def test_to_toml_comments_each_field() -> None:
    text = ExecutionPolicy().to_toml()
    for info in ExecutionPolicy.model_fields.values():
        assert f"# {info.title}: {info.description}" in text


def test_from_toml_on_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(PolicyError) as info:
        ExecutionPolicy.from_toml(missing)
    message = str(info.value)
    assert f"Could not read policy file {missing}" in message
    assert "preset name" in message


def test_from_toml_on_invalid_toml(tmp_path: Path) -> None:
    file = tmp_path / "broken.toml"
    file.write_text("fuel_budget = = 5\n", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        ExecutionPolicy.from_toml(file)
    assert str(info.value).startswith(f"{file} is not valid TOML:")


def test_from_toml_on_unknown_keys(tmp_path: Path) -> None:
    file = tmp_path / "typo.toml"
    file.write_text('description = "x"\nfuel_budgett = 5000000\n', encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        ExecutionPolicy.from_toml(file)
    message = str(info.value)
    assert message.startswith(f"{file}: fuel_budgett: unknown setting.")
    assert "fuel_budget" in message.split("Known settings:")[1]


def test_from_toml_on_out_of_range_value_names_field_and_range(tmp_path: Path) -> None:
    file = tmp_path / "big.toml"
    file.write_text("memory_bytes = 1_000_000_000_000\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"memory_bytes: .*Allowed: 32 MiB to 4 GiB\."):
        ExecutionPolicy.from_toml(file)


def test_save_toml_keeps_comments_of_an_existing_file(tmp_path: Path) -> None:
    file = tmp_path / "mine.toml"
    shutil.copy(POLICIES / "conservative.toml", file)
    original = file.read_text(encoding="utf-8")
    comments = [line for line in original.splitlines() if line.startswith("#")]
    assert comments  # the preset is commented; otherwise this test proves nothing

    updated = ExecutionPolicy.from_toml(file).with_updates(
        fuel_budget=750_000_000, env={"LANG": "C"}
    )
    updated.save_toml(file)

    text = file.read_text(encoding="utf-8")
    for comment in comments:
        assert comment in text
    assert "fuel_budget = 750000000\n" in text
    assert "fuel_budget = 500_000_000" not in text
    assert 'description = "Tight limits' in text  # kept when not given
    assert ExecutionPolicy.from_toml(file) == updated
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.toml"]  # no temp file left


def test_save_toml_replaces_the_description_when_given(tmp_path: Path) -> None:
    file = tmp_path / "mine.toml"
    shutil.copy(POLICIES / "default.toml", file)
    ExecutionPolicy().save_toml(file, description="mine now")
    assert 'description = "mine now"' in file.read_text(encoding="utf-8")


def test_save_toml_writes_a_new_commented_file(tmp_path: Path) -> None:
    file = tmp_path / "new.toml"
    policy = full_policy()
    policy.save_toml(file, description="fresh")
    text = file.read_text(encoding="utf-8")
    assert text.startswith('description = "fresh"\n')
    assert "# Fuel budget:" in text
    assert ExecutionPolicy.from_toml(file) == policy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.toml"]


# ---- Presets


def test_list_presets() -> None:
    presets = list_presets()
    assert set(presets) == {"default", "conservative", "document-processing", "data-analysis"}
    for name, path in presets.items():
        assert path.is_file()
        assert path.name == f"{name}.toml"


@pytest.mark.parametrize(
    "name", ["default", "conservative", "document-processing", "data-analysis"]
)
def test_every_preset_loads(name: str) -> None:
    policy = load_policy(name)
    assert policy == ExecutionPolicy.from_toml(list_presets()[name])
    # Every preset file sets every numeric limit explicitly.
    text = list_presets()[name].read_text(encoding="utf-8")
    for field in ("fuel_budget", "memory_bytes", "timeout_seconds"):
        assert f"\n{field} = " in text


def test_presets_are_ordered_from_tight_to_roomy() -> None:
    tight, normal, roomy = (
        load_policy(n) for n in ("conservative", "default", "document-processing")
    )
    for field in ("fuel_budget", "memory_bytes", "timeout_seconds", "workspace_max_bytes"):
        assert getattr(tight, field) < getattr(normal, field) < getattr(roomy, field), field


def test_the_data_analysis_preset_has_room_for_the_scientific_stack() -> None:
    # What python-sci needs beyond document-processing (see the preset's comments).
    data, documents = load_policy("data-analysis"), load_policy("document-processing")
    assert data.fuel_budget >= 50_000_000_000
    assert data.memory_bytes >= 1024**3
    for field in ("fuel_budget", "memory_bytes", "timeout_seconds"):
        assert getattr(data, field) > getattr(documents, field), field


def test_load_policy_by_path(tmp_path: Path) -> None:
    file = tmp_path / "custom.toml"
    file.write_text("timeout_seconds = 7.5\n", encoding="utf-8")
    assert load_policy(file).timeout_seconds == 7.5
    assert load_policy(str(file)).timeout_seconds == 7.5


def test_load_policy_with_a_missing_toml_path(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="Could not read policy file"):
        load_policy(tmp_path / "missing.toml")


def test_load_policy_unknown_name_lists_the_presets() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy("nope")
    message = str(info.value)
    assert "No policy preset named 'nope'" in message
    assert "conservative, data-analysis, default, document-processing" in message
    assert ".toml" in message


# ---- Help and formatting


def test_policy_field_help_covers_every_field() -> None:
    help_text = policy_field_help()
    assert list(help_text) == list(ExecutionPolicy.model_fields)
    for name, text in help_text.items():
        info = ExecutionPolicy.model_fields[name]
        assert info.title is not None
        assert info.description is not None
        assert text.startswith(f"{info.title}. {info.description}")
    assert help_text["fuel_budget"].endswith("(1 M to 1 T)")
    assert help_text["memory_bytes"].endswith("(32 MiB to 4 GiB)")
    assert help_text["timeout_seconds"].endswith("(0.05 s to 3600 s)")
    assert help_text["max_open_files"].endswith("(4 to 1,024)")


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1 k"),
        (12_345, "12.3 k"),
        (1_500_000, "1.5 M"),
        (50_000_000, "50 M"),
        (2_000_000_000, "2 B"),
        (2_500_000_000, "2.5 B"),
        (10**12, "1 T"),
    ],
)
def test_format_fuel(count: int, text: str) -> None:
    assert format_fuel(count) == text


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1 KiB"),
        (1536, "1.5 KiB"),
        (256 * KIB, "256 KiB"),
        (128 * MIB, "128 MiB"),
        (4 * GIB, "4 GiB"),
        (64 * GIB, "64 GiB"),
    ],
)
def test_format_bytes(count: int, text: str) -> None:
    assert format_bytes(count) == text


def test_to_toml_keeps_each_comment_next_to_its_own_key() -> None:
    from workbench.sandbox import Mount

    policy = ExecutionPolicy(
        env={"A": "1"}, mounts=[Mount(host_path="/tmp", guest_path="/data/x")], argv=["q"]
    )
    lines = policy.to_toml().splitlines()
    for name, info in ExecutionPolicy.model_fields.items():
        comment = f"# {info.title}: {info.description}"
        index = lines.index(comment)
        following = lines[index + 1]
        assert following.startswith((f"{name} =", f"[{name}]", f"[[{name}]]")), (name, following)
    assert ExecutionPolicy.from_toml_string(policy.to_toml()) == policy


# ---- parse_policy_setting (the --set syntax of the CLI and the kernels)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("memory_bytes=256MiB", ("memory_bytes", 256 * MIB)),
        ("memory_bytes=1GiB", ("memory_bytes", GIB)),
        ("memory_bytes = 64 mib", ("memory_bytes", 64 * MIB)),
        ("stdout_max_bytes=100KiB", ("stdout_max_bytes", 100 * 1024)),
        ("stdout_max_bytes=2MB", ("stdout_max_bytes", 2_000_000)),
        ("stderr_max_bytes=10kb", ("stderr_max_bytes", 10_000)),
        ("fuel_budget=50M", ("fuel_budget", 50_000_000)),
        ("fuel_budget=5B", ("fuel_budget", 5_000_000_000)),
        ("fuel_budget=1.5B", ("fuel_budget", 1_500_000_000)),
        ("fuel_budget=5e9", ("fuel_budget", 5_000_000_000)),
        ("fuel_budget=2_000_000", ("fuel_budget", 2_000_000)),
        ("fuel_budget=2500k", ("fuel_budget", 2_500_000)),
        ("fuel_budget=1T", ("fuel_budget", 10**12)),
        ("fuel_budget=0.5t", ("fuel_budget", 500_000_000_000)),
        ("max_open_files=64", ("max_open_files", 64)),
        ("timeout_seconds=0.5", ("timeout_seconds", 0.5)),
        ("timeout_seconds=2s", ("timeout_seconds", 2.0)),
        ("timeout_seconds=10", ("timeout_seconds", 10.0)),
        ('argv=["a", "--b", "c d"]', ("argv", ["a", "--b", "c d"])),
        ('env={"LANG": "C"}', ("env", {"LANG": "C"})),
        ('env_allowlist=["HOME"]', ("env_allowlist", ["HOME"])),
    ],
)
def test_parse_policy_setting(item: str, expected: tuple[str, Any]) -> None:
    key, value = parse_policy_setting(item)
    assert (key, value) == expected
    assert type(value) is type(expected[1])
    ExecutionPolicy().with_updates(**{key: value})  # every example is a valid setting


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ("fuel_budget", "expected key=value"),
        ("nosuch=1", "--set 'nosuch': unknown setting."),
        ("=5", "unknown setting"),
        ("argv=[unclosed", "--set argv: '[unclosed' is not valid JSON"),
        ('env={"A": }', "is not valid JSON"),
        ("memory_bytes=5parsecs", "unknown unit 'parsecs'"),
        ("memory_bytes=1TiB", "unknown unit 'TiB'"),
    ],
)
def test_parse_policy_setting_errors(item: str, fragment: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy_setting(item)
    assert fragment in str(info.value)


def test_parse_policy_setting_leaves_other_text_to_policy_validation() -> None:
    key, value = parse_policy_setting("fuel_budget=abc")
    assert (key, value) == ("fuel_budget", "abc")
    with pytest.raises(PolicyError, match=r"^fuel_budget: .*\(got 'abc'\)"):
        ExecutionPolicy().with_updates(**{key: value})


def test_parse_policy_setting_reads_b_as_bytes_for_byte_settings() -> None:
    assert parse_policy_setting("memory_bytes=64000000B") == ("memory_bytes", 64_000_000)
    assert parse_policy_setting("fuel_budget=2B") == ("fuel_budget", 2_000_000_000)
    assert parse_policy_setting("timeout_seconds=500ms") == ("timeout_seconds", 0.5)
