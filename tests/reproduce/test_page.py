"""The page's opening says which datasets were absent and what stood in for each, once each."""

from __future__ import annotations

from nnrun.reproduce.manifest import RANDOM, Experiment, Report
from nnrun.reproduce.page import stand_in_sentence
from nnrun.reproduce.run import Job


def job(tmp_path, config: str, dataset: str, used: str, ran: bool = True) -> Job:
    folder = tmp_path / f"{config}-{used}"
    folder.mkdir()
    if ran:
        (folder / "sweep.yaml").write_text("{}\n")
    report = Report(id="003", title="t", experiments=[Experiment(config=f"{config}.yaml")])
    return Job(report, report.experiments[0], tmp_path / f"{config}.yaml", dataset, used, [], folder)


def test_each_absent_dataset_is_named_once_with_what_stood_in_for_it(tmp_path):
    jobs = [
        job(tmp_path, "mlp", "cifar10", RANDOM),
        job(tmp_path, "cnn", "cifar10", RANDOM),
        job(tmp_path, "grid", "cifar10", "fashion_mnist"),
        job(tmp_path, "softmax", "mnist", "fashion_mnist"),
        job(tmp_path, "letters", "notmnist", "fashion_mnist", ran=False),  # not run: not named
    ]
    text = stand_in_sentence(jobs)
    assert text.startswith("CIFAR-10 and MNIST were not on this machine")
    assert "Fashion-MNIST stood in for MNIST, and for CIFAR-10 where its table says so." in text
    assert "its other configs ran end to end on random CIFAR-10-shaped noise" in text
    assert "notMNIST" not in text


def test_no_stand_in_no_caveat(tmp_path):
    assert stand_in_sentence([job(tmp_path, "moons", "moons", "moons")]) == (
        "Every experiment shown ran on its report's own dataset."
    )
