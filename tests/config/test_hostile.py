"""Hostile configs and `--set` values: refused with a clear ConfigError quickly, never a hang, a memory
blow-up or a raw traceback. Huge files, deep nesting, alias bombs, binary junk, values no constructor can read,
and run names that would lead out of results/.
"""

from __future__ import annotations

import functools
import random
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from nnrun.config import Config, config_from_dict, load_config
from nnrun.config.locate import MAX_CHARS, MAX_LISTED
from nnrun.config.schema import MAX_NAME
from nnrun.config.source import MAX_BYTES, MAX_DEPTH, MAX_INT_CHARS, MAX_NODES
from nnrun.errors import ConfigError
from tests.helpers import small_config

BASE = yaml.safe_dump(small_config(), sort_keys=False)


def write(folder: Path, content: str | bytes, name: str = "c.yaml") -> Path:
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


@functools.cache
def full_parse_seconds() -> float:
    """CPU seconds this machine takes to read a config of half the node limit through, which the schema then
    refuses: the yardstick for "quickly", since a fixed number of seconds fails on a slow machine."""
    with tempfile.TemporaryDirectory() as folder:
        path = write(Path(folder), BASE + "".join(f"k{i}: {i}\n" for i in range(MAX_NODES // 2)))
        start = time.process_time()
        with pytest.raises(ConfigError):
            load_config(path)
        return time.process_time() - start


def refused(path: Path, overrides=(), seconds: float = 1.0) -> ConfigError:
    """The ConfigError loading raises, checked to come with a printable what, where and hint within `seconds`
    or twice the time of a full read of a legal-sized config (whichever is longer): a hang or an expansion
    takes orders of magnitude more."""
    start = time.process_time()  # CPU time: other processes on a busy CI machine do not count
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    assert time.process_time() - start < max(seconds, 2 * full_parse_seconds())
    error = info.value
    assert error.what and (error.where or len(error.problems) > 1)  # each of several problems has its own where
    str(error).encode("utf-8")  # the CLI prints it
    return error


def laughs(levels: int = 9, prefix: str = "") -> str:
    """The 'billion laughs': each anchor is a list of nine aliases of the one before, 9**levels strings in all."""
    lines = [f"{prefix}l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"{prefix}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# --- huge files ---------------------------------------------------------------------------------------------


def test_a_200_mb_file_is_refused_by_its_size_before_reading(tmp_path):
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(200 << 20)  # sparse: nothing is written
    error = refused(path)
    assert "the file is 200.0 MiB, more than the 256 KiB a config may have" in error.what
    assert error.where == str(path)


def test_a_million_keys_are_refused_by_the_size(tmp_path):
    path = write(tmp_path, "".join(f"k{i}: {i}\n" for i in range(1_000_000)))
    assert path.stat().st_size > 10 * MAX_BYTES
    assert "more than the 256 KiB" in refused(path).what


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_an_endless_device_is_read_no_further_than_the_limit():
    error = refused(Path("/dev/zero"))
    assert "the file is larger, more than the 256 KiB" in error.what


def test_many_keys_under_the_size_limit_are_refused_by_the_node_limit(tmp_path):
    text = BASE + "".join(f"k{i}: {i}\n" for i in range(20_000))
    assert len(text) < MAX_BYTES
    error = refused(write(tmp_path, text))
    assert f"more than {MAX_NODES:,} values and keys" in error.what
    assert error.where.startswith(f"{tmp_path / 'c.yaml'}:")


def test_a_long_list_is_refused_by_the_node_limit(tmp_path):
    error = refused(write(tmp_path, BASE.replace("input_shape:\n  - 64", "input_shape: [" + "1, " * 50_000 + "1]")))
    assert f"more than {MAX_NODES:,} values and keys" in error.what


def test_a_problem_quoting_a_huge_value_is_cut_short(tmp_path):
    error = refused(write(tmp_path, BASE.replace("type: relu", "type: " + "r" * 250_000)))
    assert error.what.startswith("model.layers[1].type: unknown layer type 'rrrr")
    assert len(error.what) == MAX_CHARS and error.what.endswith("…")


def test_thousands_of_problems_list_the_first_and_count_the_rest(tmp_path):
    text = BASE + "".join(f"k{i}: {i}\n" for i in range(1_000))
    error = refused(write(tmp_path, text))
    lines = str(error).splitlines()
    assert len(lines) == MAX_LISTED + 1
    assert lines[-1] == f"... and {1_000 - MAX_LISTED:,} more problems"
    assert len(error.problems) == 1_000


# --- deep nesting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000,
        "[" * 50_000 + "]" * 50_000,
        "{a: " * 50_000 + "1" + "}" * 50_000,
        "".join(" " * i + "a:\n" for i in range(400)),
        BASE + "sweep:\n  parameters:\n    x: " + "[" * 1_000 + "]" * 1_000 + "\n",
    ],
    ids=["brackets", "balanced", "flow-mappings", "block-mappings", "in-a-valid-config"],
)
def test_deep_nesting_is_refused(tmp_path, text):
    assert len(text) < MAX_BYTES
    error = refused(write(tmp_path, text))
    assert f"nested more than {MAX_DEPTH} levels deep" in error.what
    assert "unclosed brackets" in error.hint


def test_nesting_up_to_the_limit_is_read(tmp_path):
    def nested(brackets: int) -> str:
        # the top mapping, sweep and parameters are 3 levels and the scalar 1 is the last one
        value = "[" * brackets + "1" + "]" * brackets
        return BASE + f"sweep:\n  parameters:\n    train.epochs: {value}\n"

    assert load_config(write(tmp_path, nested(MAX_DEPTH - 4))).sweep.parameters["train.epochs"]
    assert "nested more than" in refused(write(tmp_path, nested(MAX_DEPTH - 3))).what


def test_deep_override_values_and_key_paths_are_refused(tmp_path):
    path = write(tmp_path, BASE)
    error = refused(path, ["model.hidden.units=" + "[" * 100_000])
    assert f"nested more than {MAX_DEPTH} levels deep" in error.what
    assert len(error.where) < 250  # the override is shown cut short
    error = refused(path, ["a" + ".a" * 100_000 + "=1"])
    assert f"the key path has 100,001 parts; a config nests at most {MAX_DEPTH} levels" in error.what


# --- aliases -----------------------------------------------------------------------------------------------


def test_the_billion_laughs_is_refused_at_once(tmp_path):
    error = refused(write(tmp_path, laughs()), seconds=0.5)
    assert f"more than {MAX_NODES:,} values and keys (the alias *l" in error.what
    assert "alias" in error.hint


def test_an_alias_bomb_inside_a_valid_config_is_refused(tmp_path):
    text = BASE + "sweep:\n  parameters:\n" + laughs(prefix="    ")
    assert "more than" in refused(write(tmp_path, text)).what
    text = laughs() + BASE.replace("  - type: relu\n", "  - type: relu\n    extra: *l9\n")
    assert "more than" in refused(write(tmp_path, text)).what


def test_the_billion_laughs_through_set_is_refused(tmp_path):
    value = "{" + laughs().strip().replace("\n", ", ") + "}"
    error = refused(write(tmp_path, BASE), [f"model.hidden.units={value}"], seconds=0.5)
    assert "(the alias *l" in error.what
    assert error.where.startswith("--set model.hidden.units={l0: &l0")


@pytest.mark.parametrize(
    "text",
    ["&a [*a]\n", "a: &a {b: *a}\n", BASE + "sweep:\n  parameters:\n    x: &x [1, *x]\n", "a: &a {<<: *a}\n"],
)
def test_a_recursive_alias_is_refused(tmp_path, text):
    error = refused(write(tmp_path, text))
    assert "is inside its own anchor" in error.what and "repeats forever" in error.what


def test_a_recursive_alias_through_set_is_refused(tmp_path):
    error = refused(write(tmp_path, BASE), ["model.hidden.units=&a [*a]"])
    assert error.what == "the alias *a is inside its own anchor &a: it repeats forever"
    assert error.where == "--set model.hidden.units=&a [*a]"


def test_aliases_within_the_budget_still_work(tmp_path):
    text = BASE.replace(
        "  - type: dense\n    units: 32\n    name: hidden\n",
        "  - &hidden {type: dense, units: 32, name: hidden}\n  - {<<: *hidden, units: 16, name: second}\n",
    )
    config = load_config(write(tmp_path, text))
    assert isinstance(config, Config)
    assert [layer["units"] for layer in config.model.layers if layer["type"] == "dense"] == [32, 16, 10]


# --- binary junk -------------------------------------------------------------------------------------------


def test_random_bytes_are_refused_as_binary(tmp_path):
    junk = random.Random(0).randbytes(4096)
    error = refused(write(tmp_path, junk))
    assert error.what.startswith("not UTF-8 text") and "binary" in error.what


def test_a_png_renamed_yaml_is_refused_as_binary(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00"
    error = refused(write(tmp_path, png + random.Random(1).randbytes(200), "plot.yaml"))
    assert "byte 0x89 at offset 0" in error.what
    assert error.where == f"{tmp_path / 'plot.yaml'}:1"


def test_invalid_utf8_names_its_line(tmp_path):
    error = refused(write(tmp_path, BASE.encode() + b"extra: caf\xe9\n"))
    assert error.what.startswith("not UTF-8 text (invalid continuation byte): byte 0xe9")
    assert error.where.endswith(f":{BASE.count(chr(10)) + 1}")


def test_a_utf16_file_is_named_as_such(tmp_path):
    error = refused(write(tmp_path, BASE.encode("utf-16")))
    assert error.what == "not UTF-8 text: the file is UTF-16" and "save it as UTF-8" in error.hint


def test_a_nul_byte_is_refused_with_its_line_not_a_yaml_traceback(tmp_path):
    # was yaml.reader.ReaderError, raised before parse_yaml's try
    error = refused(write(tmp_path, BASE + "extra: a\x00b\n"))
    assert error.what.startswith("the file holds a NUL byte (column 9)")
    assert error.where.endswith(f":{BASE.count(chr(10)) + 1}")


@pytest.mark.parametrize("character", ["\x1f", "\x1b", "\x7f"])
def test_a_control_character_is_refused(tmp_path, character):
    error = refused(write(tmp_path, f"name: a{character}b\n"))
    assert f"the unprintable character U+{ord(character):04X}" in error.what


@pytest.mark.parametrize("escape", ['"\\ud800"', '"\\x00"', '"\\e[31mred"'])
def test_an_escape_that_makes_an_unprintable_string_is_refused(tmp_path, escape):
    # a lone surrogate in a key or value made messages the CLI could not print
    for text in (BASE + f"{escape}: 1\n", BASE.replace("dataset: digits", f"dataset: {escape}")):
        error = refused(write(tmp_path, text))
        assert "holds" in error.what and "remove the escape" in error.hint


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("model.hidden.units=\x00", "the override holds a NUL byte (character 20)"),
        ("model.hid\x1bden.units=3", "the override holds the unprintable character U+001B (character 10)"),
        (
            "name=\udcff",
            "the override holds the unprintable character U+DCFF (character 6)",
        ),  # argv bytes that are not UTF-8
    ],
)
def test_binary_in_an_override_is_refused_and_shown_escaped(tmp_path, override, expected):
    error = refused(write(tmp_path, BASE), [override])
    assert error.what == expected
    assert error.where == "--set " + override.encode("utf-8", "surrogateescape").decode("latin-1").replace(
        "\x00", "\\x00"
    ).replace("\x1b", "\\x1b").replace("\xff", "\\udcff")


def test_a_huge_override_is_refused_by_its_size(tmp_path):
    error = refused(write(tmp_path, BASE), ["model.hidden.units=" + "1" * (MAX_BYTES + 1)])
    assert error.what == f"the value has {MAX_BYTES + 1:,} characters; a config may have at most 256 KiB"


# --- values no constructor can read (each was a ValueError, KeyError, IndexError or AttributeError) ---------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("!!int", "cannot read '' as int"),  # IndexError
        ("!!int abc", "cannot read 'abc' as int"),  # ValueError
        ("0b12", None),  # a string: the binary-int resolver does not match it
        ("!!float x", "cannot read 'x' as float"),
        ("!!bool maybe", "cannot read 'maybe' as bool"),  # KeyError
        ("!!timestamp x", "cannot read 'x' as timestamp"),  # AttributeError
        ("2001-13-45", "cannot read '2001-13-45' as timestamp (month must be in 1..12)"),
        ("0000-01-01", "cannot read '0000-01-01' as timestamp (year 0 is out of range)"),
        ("1" * 5000, f"an integer of 5,000 characters; the most nnrun reads is {MAX_INT_CHARS}"),
        ("1" + ":1" * 3000, f"an integer of 6,001 characters; the most nnrun reads is {MAX_INT_CHARS}"),
    ],
)
def test_unreadable_values_are_refused_in_files_and_overrides(tmp_path, value, expected):
    line = BASE.splitlines().index("seed: 0") + 1
    path = write(tmp_path, BASE.replace("seed: 0", f"seed: {value}"))
    for error in (refused(path), refused(write(tmp_path, BASE, "base.yaml"), [f"seed={value}"])):
        if expected is None:
            assert "Input should be a valid integer" in error.what
        else:
            assert error.what == expected
            assert "quote" in error.hint
    assert refused(path).where == f"{path}:{line}" or expected is None


def test_a_key_that_is_not_a_string_is_named_with_its_line(tmp_path):
    # was 'data: Input should be a valid string', 'data.None: Keys should be strings (got null)', ...
    text = BASE.replace("dataset: digits", "dataset: digits\n  null: 3").replace("seed: 0", "seed: 0\n1: x\non: 2")
    error = refused(write(tmp_path, text))
    assert [what for _, what in error.problems] == [
        "1: the key '1' reads as int, not as a name; write it in quotes",
        "on: the key 'on' reads as bool, not as a name; write it in quotes",
        "data.null: the key 'null' reads as null, not as a name; write it in quotes",
    ]
    assert [where for where, _ in error.problems] == [f"{tmp_path / 'c.yaml'}:{n}" for n in (3, 4, 7)]
    error = refused(write(tmp_path, BASE), ["data={dataset: digits, 2.5: x}"])
    assert error.what == "2.5: the key '2.5' reads as float, not as a name; write it in quotes"
    assert error.where == "--set data={dataset: digits, 2.5: x}"


def test_a_huge_list_index_in_a_key_path_is_out_of_range(tmp_path):
    # int() of a 5000-digit index raised ValueError
    error = refused(write(tmp_path, BASE), ["model.layers." + "9" * 5000 + ".units=3"])
    assert error.what.startswith("index 999") and "is out of range: model.layers has 3 entries" in error.what


def test_a_python_tag_is_refused_and_not_run(tmp_path):
    proof = tmp_path / "ran"
    payload = f"!!python/object/apply:os.system ['touch {proof}']"
    for error in (
        refused(write(tmp_path, BASE.replace("seed: 0", f"seed: {payload}"))),
        refused(write(tmp_path, BASE, "base.yaml"), [f"seed={payload}"]),
    ):
        assert "could not determine a constructor for the tag" in error.what
        assert "drop the tag" in error.hint  # not the hint about indentation
    assert not proof.exists()


# --- run names and the results folder ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["..", ".", ".hidden", "../../etc", "/etc/passwd", "a/b", "a\\b", "~", "results/../..", "", "a b"]
)
def test_a_name_that_is_not_one_folder_under_results_is_refused(tmp_path, name):
    for error in (
        refused(write(tmp_path, BASE.replace("name: small", f"name: {name!r}"))),
        refused(write(tmp_path, BASE, "base.yaml"), [f"name={name!r}"]),
    ):
        assert error.what.startswith("name: must be letters, digits, '_', '-' or '.' and not start with '.'")
        assert "--out" in error.what


def test_a_name_too_long_for_a_folder_is_refused(tmp_path):
    # was accepted, then mkdir failed with OSError: File name too long
    error = refused(write(tmp_path, BASE), ["name=" + "a" * 300])
    assert error.what == f"name: is 300 characters long; a run name may have at most {MAX_NAME}"
    assert config_from_dict(small_config(name="a" * MAX_NAME)).name == "a" * MAX_NAME


def test_a_layer_name_too_long_for_a_weight_key_is_refused(tmp_path):
    # was accepted: the name goes into the .npz member names of the weights
    error = refused(write(tmp_path, BASE), ["model.hidden.name=" + "h" * 250_000])
    assert error.what == f"model.layers[0].name: is 250000 characters long; a layer name may have at most {MAX_NAME}"


def test_the_name_from_a_long_file_name_is_cut_to_the_limit(tmp_path):
    config = {key: value for key, value in small_config().items() if key != "name"}
    path = write(tmp_path, yaml.safe_dump(config), "r" * 200 + ".yaml")
    assert load_config(path).name == "r" * MAX_NAME


def test_set_name_cannot_lead_out_of_results(cli, tmp_path):
    (tmp_path / "work").mkdir()
    write(tmp_path / "work", BASE)
    result = cli("train", "work/c.yaml", "--set", "name=../../escaped", "--set", "train.epochs=1")
    assert result.returncode == 2
    assert "--set name=../../escaped: name: must be letters" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.parent.glob("escaped*")) and not (tmp_path / "results").exists()


def test_the_cli_refuses_a_hostile_file_in_one_message(cli, tmp_path):
    write(tmp_path, laughs(), "bomb.yaml")
    result = cli("check", "bomb.yaml", timeout=30)
    assert result.returncode == 2
    assert result.stderr.startswith("error: bomb.yaml:5: more than 10,000 values and keys (the alias *l3")
    assert "Traceback" not in result.stderr
