"""Fuzzing load_config: random YAML documents, random text and bytes, random `--set` overrides on a valid base.

The property: loading gives a Config or raises ConfigError with a message that can be printed, never another
exception, and each example takes under a second (the hypothesis deadline). The default run tries a few hundred
examples; the `slow` variants (pytest -m slow) a few thousand. derandomize=True and database=None make every
run try the same examples and write no .hypothesis folder, so CI is reproducible.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnrun.config import Config, config_from_dict, load_config
from nnrun.errors import ConfigError
from nnrun.io import inline
from tests.helpers import ROOT, small_config

FAST, MANY = 300, 3000  # examples per property: default run, and the slow variant
budgets = pytest.mark.parametrize("examples", [FAST, pytest.param(MANY, marks=pytest.mark.slow)])

KEYS = [
    "name", "seed", "dtype", "data", "dataset", "val", "model", "input_shape", "layers", "type", "units", "rate",
    "weight_init", "bias_init", "weight_scale", "loss", "optimizer", "lr", "schedule", "every", "train", "epochs",
    "max_steps", "batch_size", "early_stopping", "patience", "sweep", "parameters", "seeds", "method", "n_trials",
    "metric", "values", "distribution", "dense", "relu", "adam", "digits", "hidden", "float64", "<<",
]  # fmt: skip
TAGS = [
    "!!int ", "!!float ", "!!bool ", "!!str ", "!!null ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ",
    "!!pairs ", "!!map ", "!!seq ", "!!merge ", "!x ", "!!python/object/apply:os.system ", "&a ", "*a ", "",
]  # fmt: skip
WORDS = [
    "0000-00-00", "2001-13-45", "2001-12-14t21:59:43.10-05:00", "1:2:3", "190:20:30.15", "0x1F", "0b12", "0o9",
    "0777", "1_000", "-", "_", "+", ".inf", "-.nan", "~", "1e-3", "1e999", "-0", "9" * 40, "1:" * 30 + "1", "",
    '"\\x00"', '"\\ud800"', '"\\x1b[31m"', '"\\U0010ffff"', "é", "\u2028", "\ufeff", "=", ".", "model.hidden.units",
    *KEYS,
]  # fmt: skip
PUNCTUATION = [
    "[", "]", "{", "}", ": ", ":", ", ", "- ", "\n", "  ", "\t", "? ", "'", '"', "|", ">", "# c", "---\n", "...\n",
    "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "<<: ", "&b ", "*b",
]  # fmt: skip
PATH_PARTS = [
    "name", "seed", "data", "dataset", "model", "layers", "hidden", "units", "input_shape", "0", "1", "-1", "99",
    "99999999999999999999", "[0]", "train", "epochs", "optimizer", "lr", "schedule", "type", "loss", "sweep",
    "parameters", "early_stopping", "weight_init", "",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(st.characters(exclude_categories=()), max_size=12)  # lone surrogates and controls too
    | st.sampled_from(KEYS)
    | st.sampled_from(WORDS)
)
keys = (
    st.sampled_from(KEYS) | st.text(st.characters(exclude_categories=()), max_size=8) | st.integers(-3, 3) | st.none()
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4), max_leaves=20
)
tagged = st.builds(str.__add__, st.sampled_from(TAGS), st.sampled_from(WORDS) | st.text(max_size=6))
yamlish = st.lists(tagged | st.sampled_from(PUNCTUATION), max_size=20).map("".join)


def _paths(node, prefix=()):
    yield prefix
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        yield from _paths(child, (*prefix, key))


BASE = yaml.safe_dump(small_config(), sort_keys=False)
BASE_PATHS = list(_paths(small_config()))[1:]


@st.composite
def edited_configs(draw):
    """small_config with one to three values (or whole sections) replaced by random data, or keys added."""
    config = copy.deepcopy(small_config())
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(BASE_PATHS))
        parent = config
        for part in path[:-1]:
            parent = parent[part] if isinstance(parent, dict) and part in parent else None
            if not isinstance(parent, (dict, list)):
                break
            if isinstance(parent, list) and not isinstance(part, int):
                break
        else:
            key = path[-1] if draw(st.booleans()) or not isinstance(parent, dict) else draw(keys)
            if isinstance(parent, dict) or (isinstance(key, int) and key < len(parent)):
                parent[key] = draw(values)
    return config


documents = st.one_of(
    values.map(lambda v: yaml.safe_dump(v)),
    st.tuples(edited_configs(), st.sampled_from([None, True, False])).map(
        lambda c: yaml.safe_dump(c[0], default_flow_style=c[1], sort_keys=False)
    ),
)
texts = st.one_of(
    yamlish,
    # a valid config with raw text as a top-level key's value, or as a layer
    st.builds(lambda key, text: f"{BASE}{key}: {text}\n", st.sampled_from(KEYS), yamlish),
    st.builds(lambda text: BASE.replace("  - type: relu\n", f"  - {text}\n"), yamlish),
    st.text(max_size=80),
    st.binary(max_size=80),
)

override_keys = st.lists(st.sampled_from(PATH_PARTS) | st.text(max_size=6), min_size=1, max_size=5).map(".".join)
override_values = tagged | yamlish | values.map(inline) | st.text(max_size=20)
overrides = st.lists(
    st.builds(lambda key, value: f"{key}={value}", override_keys, override_values) | st.text(max_size=30), max_size=3
)


def hypothesis_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=1000,  # ms: a config that takes a second to load or refuse is a bug
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def loads_or_refuses(path: Path, overrides=()) -> None:
    try:
        config = load_config(path, overrides)
    except ConfigError as error:
        assert error.what.strip() and str(error).strip()
        str(error).encode("utf-8")  # the CLI prints it: a lone surrogate from the input would fail there
    else:
        assert isinstance(config, Config)


def write(folder: Path, content: str | bytes) -> Path:
    path = folder / "fuzz.yaml"
    if isinstance(content, str):
        # st.text() yields lone surrogates too; written as they are, they make the file invalid UTF-8
        content = content.encode("utf-8", "surrogatepass")
    path.write_bytes(content)
    return path


def run(strategy, check, examples: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        hypothesis_settings(examples)(given(strategy)(lambda value: check(Path(folder), value)))()


@budgets
def test_random_documents_load_or_raise_config_error(examples):
    run(documents, lambda folder, text: loads_or_refuses(write(folder, text)), examples)


@budgets
def test_random_text_and_bytes_load_or_raise_config_error(examples):
    run(texts, lambda folder, text: loads_or_refuses(write(folder, text)), examples)


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    small = tmp_path_factory.mktemp("base") / "small.yaml"
    small.write_text(yaml.safe_dump(small_config(), sort_keys=False))
    return [small, ROOT / "configs" / "quickstart.yaml"]


@budgets
def test_random_overrides_on_a_valid_config_load_or_raise_config_error(examples, bases):
    run(
        st.tuples(st.sampled_from(bases), overrides),
        lambda folder, drawn: loads_or_refuses(drawn[0], drawn[1]),
        examples,
    )


names = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=12),
    st.lists(st.sampled_from(["..", ".", "/", "\\", "~", "a", "-", "_", "%2e", "\x00", " "]), max_size=6).map("".join),
)


def stays_in_results(folder: Path, name: str) -> None:
    """A name the schema accepts is one folder right under results/ (as nnrun.runs.folder joins them)."""
    try:
        config = config_from_dict(small_config(name=name))
    except ConfigError:
        return
    root = (folder / "results").resolve()
    assert (root / config.name).resolve().parent == root


@budgets
def test_a_valid_run_name_is_one_folder_under_results(examples):
    run(names, stays_in_results, examples)
