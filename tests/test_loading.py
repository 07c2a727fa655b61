"""What nnrun deserializes: YAML only through safe loaders, and no pickle but CIFAR's restricted unpickler.

A scan of nnrun's sources (by syntax tree, so comments and strings do not count) keeps it so, and behavioural
tests check that the safe paths refuse what would run code.
"""

from __future__ import annotations

import ast
import io
import os
import pickle
from pathlib import Path

import pytest
import yaml

from nnrun.config import Override, parse_yaml
from nnrun.config.source import YamlLoader
from nnrun.data import cifar
from nnrun.errors import ConfigError, DataError
from tests.helpers import ROOT

# yaml functions and loaders that construct arbitrary Python objects (or are one flag away from it)
UNSAFE_YAML = {
    "load", "load_all", "unsafe_load", "unsafe_load_all", "full_load", "full_load_all",
    "Loader", "FullLoader", "UnsafeLoader", "CLoader", "CFullLoader", "CUnsafeLoader",
}  # fmt: skip
PICKLE_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve", "marshal", "jsonpickle"}
PICKLE_LOADERS = {"load", "loads", "Unpickler", "open", "decode"}  # shelve.open, jsonpickle.decode
UNPICKLER = Path("nnrun/data/cifar.py")  # the one module that may subclass pickle.Unpickler


def unsafe_loading(source: str, path: Path) -> list[str]:
    """Each way `source` deserializes unsafely, as 'path:line: what'."""
    found = []

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{path}:{node.lineno}: {what}")

    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module, name = node.value.id, node.attr
            if module == "yaml" and name in UNSAFE_YAML:
                report(node, f"yaml.{name}: use yaml.safe_load (or a yaml.SafeLoader subclass)")
            if module in PICKLE_MODULES and unpickles(name, path):
                report(node, f"{module}.{name}: nnrun never unpickles (CIFAR's restricted unpickler aside)")
        elif isinstance(node, ast.ImportFrom) and node.module in ("yaml", *PICKLE_MODULES):
            for alias in node.names:
                if alias.name in UNSAFE_YAML if node.module == "yaml" else unpickles(alias.name, path):
                    report(node, f"from {node.module} import {alias.name}")
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                # np.load(..., allow_pickle=True) unpickles object arrays; only a literal False is safe
                if keyword.arg == "allow_pickle" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    report(node, "allow_pickle other than False")
    return found


def unpickles(name: str, path: Path) -> bool:
    return name in PICKLE_LOADERS and not (name == "Unpickler" and path == UNPICKLER)


def sources() -> list[Path]:
    return sorted((ROOT / "nnrun").rglob("*.py"))


def test_the_scan_finds_each_kind_of_unsafe_loading():
    source = (
        "from yaml import Loader\nfrom pickle import loads\n"
        "yaml.load(t)\nyaml.load(t, Loader=yaml.Loader)\nyaml.unsafe_load(t)\nyaml.full_load(t)\n"
        "pickle.loads(b)\npickle.load(f)\nclass U(pickle.Unpickler): pass\n"
        "np.load(p, allow_pickle=True)\nnp.load(p, allow_pickle=flag)\n"
        # the safe forms, and mentions that are not code
        "import yaml, pickle\nyaml.safe_load(t)\nnp.load(p, allow_pickle=False)\npickle.dumps(x)\n"
        "# yaml.load( in a comment\nx = 'pickle.loads('\n"
    )
    found = unsafe_loading(source, Path("nnrun/example.py"))
    assert sorted({int(entry.split(":")[1]) for entry in found}) == list(range(1, 12))
    assert unsafe_loading("class U(pickle.Unpickler): pass\n", UNPICKLER) == []


def test_nnrun_loads_yaml_safely_and_unpickles_nothing_but_cifar():
    assert len(sources()) > 50
    found = []
    for path in sources():
        found += unsafe_loading(path.read_text(encoding="utf-8"), path.relative_to(ROOT))
    assert found == []


def test_cifar_unpickles_only_through_the_restricted_unpickler():
    tree = ast.parse((ROOT / UNPICKLER).read_text(encoding="utf-8"))
    bases = {
        node.name: [ast.unparse(base) for base in node.bases]
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
    }
    assert bases["RestrictedUnpickler"] == ["pickle.Unpickler"]
    uses = {
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and ast.unparse(node).startswith("pickle.")
    }
    assert uses <= {"pickle.Unpickler", "pickle.UnpicklingError"}
    assert issubclass(cifar.RestrictedUnpickler, pickle.Unpickler)
    assert cifar.RestrictedUnpickler.find_class is not pickle.Unpickler.find_class


def test_the_config_loader_is_a_safe_loader_without_python_tags():
    assert issubclass(YamlLoader, yaml.SafeLoader)
    tags = [*YamlLoader.yaml_constructors, *YamlLoader.yaml_multi_constructors]
    assert not [tag for tag in tags if tag and "python" in tag]


@pytest.mark.parametrize(
    "text",
    [
        "!!python/object/apply:os.system ['touch {proof}']",
        "!!python/object/new:subprocess.Popen [['touch', '{proof}']]",
        "!!python/name:os.system",
        "a: !!python/object/apply:builtins.exec [\"open('{proof}', 'w')\"]",
    ],
)
def test_yaml_that_would_run_code_is_refused_and_not_run(tmp_path, text):
    proof = tmp_path / "ran"
    text = text.format(proof=proof)
    with pytest.raises(ConfigError, match="could not determine a constructor for the tag"):
        parse_yaml(text, "c.yaml")
    with pytest.raises(ConfigError, match="could not determine a constructor for the tag"):
        Override.parse(f"name={text}")
    assert not proof.exists()


class RunsACommand:
    """Pickles as a call to os.system: what a tampered CIFAR batch would do."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_the_restricted_unpickler_refuses_os_system_and_runs_nothing(tmp_path, protocol):
    proof = tmp_path / "ran"
    payload = pickle.dumps({b"data": RunsACommand(f"touch {proof}"), b"labels": [0]}, protocol=protocol)
    with pytest.raises(DataError) as info:
        cifar.unpickle(io.BytesIO(payload), "data_batch_1")
    assert not proof.exists()
    assert f"refusing to load {os.system.__module__}.system from data_batch_1" in info.value.what
    assert "may be malicious" in info.value.hint
    # the payload is live: an ordinary unpickler runs it
    pickle.loads(payload)
    assert proof.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b"cbuiltins\neval\n(S'1'\ntR.",  # GLOBAL builtins.eval, called on '1'
        b"csubprocess\ncheck_output\n((S'true'\nltR.",
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x04exec\x93\x8c\x01x\x85R.",  # STACK_GLOBAL
    ],
    ids=["eval", "subprocess", "stack-global-exec"],
)
def test_the_restricted_unpickler_refuses_other_callables(payload):
    with pytest.raises(DataError, match="refusing to load (builtins|subprocess)"):
        cifar.unpickle(io.BytesIO(payload), "batches.meta")
