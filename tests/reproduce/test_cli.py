"""`nnrun reproduce` end to end on a tiny manifest: a built-in dataset, CIFAR-10 absent (noise stands in), and an
experiment that diverges. The page, the resume, `--page` and a bad report id."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from tests.sweeps.studies import metrics_stamps

MOONS = {
    "name": "m",
    "seed": 0,
    "data": {"dataset": "moons", "n": 200, "val": 0.2, "test": 0.2},
    "model": {
        "input_shape": [2],
        "layers": [{"type": "dense", "units": 8}, {"type": "tanh"}, {"type": "dense", "units": 2}],
    },
    "loss": "softmax_cross_entropy",
    "optimizer": {"type": "adam", "lr": 0.03},
    "train": {"epochs": 2, "batch_size": 32},
    "sweep": {"parameters": {"optimizer.lr": [0.03, 0.01]}, "seeds": [0, 1], "metric": {"name": "val_acc"}},
}

CIFAR = {
    "name": "c",
    "seed": 0,
    "data": {"dataset": "cifar10", "val": 100, "flatten": True},
    "model": {"input_shape": [3072], "layers": [{"type": "dense", "units": 10}]},
    "loss": "softmax_cross_entropy",
    "optimizer": {"type": "sgd", "lr": 0.01},
    "train": {"max_steps": 3, "batch_size": 50},
    "sweep": {"parameters": {}, "seeds": [0]},
}

MANIFEST = {
    "stand_ins": {"cifar10": {"dataset": "random"}},
    "reports": [
        {
            "id": "100",
            "title": "Moons and noise",
            "their_time": "The report took two hours on a laptop.",
            "experiments": [
                {
                    "config": "m_moons.yaml",
                    "published": [{"point": {"optimizer.lr": 0.03}, "best_test_acc": 0.875}],
                    "figures": [{"trial": "best", "kind": "curves"}],
                    "remarks": "The moons remark.",
                },
                {"config": "c_cifar.yaml", "published": [{"point": {}, "best_test_acc": 0.5}]},
            ],
        },
        {"id": "200", "title": "A diverging run", "experiments": [{"config": "d_diverge.yaml"}]},
    ],
}

FLAGS = ["--manifest", "configs/reports.yaml", "--results", "results/reports", "--page-file", "docs/page.md"]


@pytest.fixture()
def project(tmp_path, monkeypatch):
    """A folder with the tiny manifest and its configs, where no real dataset can be found or downloaded."""
    monkeypatch.setenv("NNRUN_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NNRUN_OFFLINE", "1")
    configs = tmp_path / "configs"
    configs.mkdir()
    diverge = copy.deepcopy(MOONS)
    diverge["model"]["layers"][1] = {"type": "relu"}  # no saturation: the logits overflow float32
    diverge["optimizer"] = {"type": "sgd", "lr": 1.0e30}
    diverge["sweep"] = {"parameters": {}, "seeds": [0]}
    for name, config in [("m_moons", MOONS), ("c_cifar", CIFAR), ("d_diverge", diverge)]:
        (configs / f"{name}.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (configs / "reports.yaml").write_text(yaml.safe_dump(MANIFEST, sort_keys=False))
    return tmp_path


def test_reproduce_runs_every_report_writes_the_page_and_resumes(project, cli):
    first = cli("reproduce", *FLAGS, "--workers", "2", "--quiet")
    assert first.returncode == 1, first.stderr
    assert "1 of 3 experiments did not finish: 200 d_diverge: 1 failed trial" in first.stderr
    assert "Traceback" not in first.stderr

    results = project / "results" / "reports"
    assert sorted(p.name for p in results.iterdir() if p.is_dir()) == ["c_cifar-random", "d_diverge", "m_moons"]
    assert (results / "random-cifar10.npz").is_file()
    for folder in ("m_moons", "c_cifar-random", "d_diverge"):
        record = json.loads((results / folder / "reproduce.json").read_text())
        assert len(record["runs"]) == 1 and record["wall_seconds"] == record["runs"][0]["seconds"] > 0
    assert json.loads((results / "d_diverge" / "reproduce.json").read_text())["failed"] == 1

    page = (project / "docs" / "page.md").read_text()
    header = page.split("## Report")[0]
    assert "CIFAR-10 was not on this machine" in header and "ran end to end on random CIFAR-10-shaped noise" in header
    assert "MNIST" not in header.replace("CIFAR", "")  # only the datasets that stood in are named
    assert "## Report 100: Moons and noise" in page and "## Report 200: A diverging run" in page
    moons = page.split("### m_moons")[1].split("###")[0]
    assert "`nnrun sweep configs/m_moons.yaml`" in moons  # the config's path from where the command ran
    assert "Data: two moons, as in the report." in moons
    assert "| optimizer.lr | seeds | best test acc: report | best test acc: nnrun |" in moons
    row = next(line for line in moons.splitlines() if line.startswith("| `0.03` |"))
    assert "| 2 | 87.50 % |" in row and " ± " in row  # the published number, then mean ± std over 2 seeds
    assert "The moons remark." in moons and "(4 trials, " in moons
    diverged = page.split("### d_diverge")[1]
    assert "No trial finished: 1 failed, with their errors in `results/reports/d_diverge/trials.csv`." in diverged
    assert "(1 trial, " in diverged
    image = next(line for line in moons.splitlines() if line.startswith("!["))
    copied = project / "docs" / image.split("(")[1].rstrip(")")
    assert copied.is_file() and copied.read_bytes()[:4] == b"\x89PNG"

    cifar = page.split("### c_cifar")[1].split("###")[0]
    assert "CIFAR-10 is not on this machine, so this ran on random CIFAR-10-shaped noise for its speed only" in cifar
    assert "| 1 | 50.00 % | noise |" in cifar  # the report's number, never an accuracy measured on noise
    assert "training images per second" in cifar and "for an epoch of CIFAR-10's 49,900 training images" in cifar
    assert "**Time.** The report took two hours on a laptop. Here: " in page
    assert "### d_diverge" in page

    stamps = metrics_stamps(results / "m_moons")
    again = cli("reproduce", "100", *FLAGS, "--workers", "2", "--quiet")
    assert again.returncode == 0, again.stderr
    assert metrics_stamps(results / "m_moons") == stamps  # resumed: nothing trained again
    assert len(json.loads((results / "m_moons" / "reproduce.json").read_text())["runs"]) == 2
    assert len(json.loads((results / "d_diverge" / "reproduce.json").read_text())["runs"]) == 1  # not chosen

    (project / "docs" / "page.md").unlink()
    rebuilt = cli("reproduce", "--page", *FLAGS, "--quiet")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "87.50 %" in (project / "docs" / "page.md").read_text()
    assert len(json.loads((results / "d_diverge" / "reproduce.json").read_text())["runs"]) == 1  # ran nothing


def test_an_unknown_report_is_refused_before_anything_runs(project, cli):
    result = cli("reproduce", "999", *FLAGS)
    assert result.returncode == 2
    assert "no report 999" in result.stderr and "reports: 100, 200" in result.stderr
    assert not (project / "results").exists() and not (project / "docs").exists()


def test_dry_run_names_the_stand_in_and_runs_nothing(project, cli):
    result = cli("reproduce", "--dry-run", *FLAGS)
    assert result.returncode == 0, result.stderr
    out = " ".join(result.stdout.split())
    assert "100 c_cifar: random (stands in for cifar10)" in out and "results/reports/c_cifar-random (new)" in out
    assert "100 m_moons: moons; no overrides" in out
    assert not (project / "results").exists()
