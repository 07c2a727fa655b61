"""`nnrun report`: one self-contained HTML page (or Markdown with its images beside it) of a run or a sweep,
checked in its text and, where Chromium is installed (CI installs it), rendered in a real browser."""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import nnrun
from nnrun.report.document import write_report
from tests.helpers import small_config
from tests.report.test_figures import looks_drawn

BROWSER = shutil.which("chromium-headless-shell") or shutil.which("chromium")
# CI installs Chromium and sets NNRUN_REQUIRE_BROWSER=1, so there a missing browser fails instead of skipping
needs_browser = pytest.mark.skipif(
    BROWSER is None and not os.environ.get("NNRUN_REQUIRE_BROWSER"),
    reason="no chromium-headless-shell (apt-get install chromium-headless-shell)",
)


DECODED = """<script>window.addEventListener("load", () => document.body.setAttribute("data-decoded",
  [...document.images].filter(image => image.complete && image.naturalWidth > 0).length));</script>"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return nnrun.train(small_config(train={"epochs": 3, "batch_size": 64}), out=tmp_path_factory.mktemp("r") / "run")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    config = small_config(train={"epochs": 2, "batch_size": 64})
    config["sweep"] = {"parameters": {"model.hidden.units": [8, 32]}, "seeds": [0, 1]}
    return nnrun.sweep(config, out=tmp_path_factory.mktemp("s") / "sweep", workers=2, plot=False)


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The sweep a user reported (issue 26): hidden units and a learning rate, whose results table has 11 columns."""
    config = small_config(train={"epochs": 1, "batch_size": 64})
    config["sweep"] = {"parameters": {"model.hidden.units": [8, 32], "optimizer.lr": [0.003, 0.01]}, "seeds": [0, 1]}
    return nnrun.sweep(config, out=tmp_path_factory.mktemp("g") / "grid", workers=2, plot=False)


def embedded_images(page: str) -> list[np.ndarray]:
    return [
        np.asarray(Image.open(io.BytesIO(base64.b64decode(data))).convert("L"))
        for data in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


def test_a_run_report_holds_its_tables_figures_config_environment_and_timings(run):
    written = write_report(run.path)
    page = written.report.read_text()
    assert written.report == run.path / "report.html"
    best = run.summary["best"]
    # accuracies in %, as the log and the sweep tables print them; losses as they were
    assert f"<td>{100 * best['test_acc']:.2f}</td>" in page and f"<td>{best['val_loss']:.4f}</td>" in page
    assert "<th>test acc %</th>" in page
    images = embedded_images(page)
    assert len(images) == len(written.figures) == 2  # curves and the network graph
    assert all(image.std() > 10 for image in images)
    assert "<h2" in page and ">Config</h2>" in page and "input_shape: [64]" in page
    assert (
        f"<td>{run.summary['machine']['cpu']}</td>" in page and f"<td>{run.summary['versions']['numba']}</td>" in page
    )
    assert "<th>seconds since start</th>" in page and page.count("<tr>") > 10
    assert 'src="http' not in page and "<script" not in page  # nothing to fetch: it reads offline


def test_the_markdown_report_links_images_beside_it(run, tmp_path, cli):
    result = cli("report", run.path, "--format", "md", "--out", "paper/run.md")
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "paper" / "run.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert links == ["run-figures/curves.png", "run-figures/graph.png"]
    for link in links:
        looks_drawn(tmp_path / "paper" / link, min_width=300, min_height=250)
    assert f"| best | {run.summary['best']['train_loss']:.4f} |" in text
    assert "```yaml\nname: small\n" in text
    in_place = write_report(run.path, "md")
    assert "](curves.png)" in in_place.report.read_text()  # in the run folder: the figures are already beside it


def test_a_sweep_report_has_the_summary_the_trials_and_the_figures(sweep):
    page = write_report(sweep.path).report.read_text()
    summary = (sweep.path / "summary.md").read_text()
    best_row = next(line for line in summary.splitlines() if line.startswith("| **"))
    first = best_row.strip("| ").split(" | ")[2].strip("*")
    assert '<tr class="best">' in page and f"<td>{first}</td>" in page
    for trial in sweep.trials:
        assert f"<td>{trial['trial']}</td>" in page
    images = embedded_images(page)
    assert len(images) == 2 and all(image.std() > 10 for image in images)  # metric vs units, and the curves
    assert "val_acc_vs_model.hidden.units.png" in page and "sweep of 2 points" not in page  # its title is the page's


def test_a_sweep_report_gives_the_range_of_what_its_trials_differ_in(sweep):
    page = write_report(sweep.path).report.read_text()
    params = sorted({sweep.run(row["trial"]).summary["params"] for row in sweep.trials})
    assert len(params) == 2  # 8 and 32 hidden units
    assert f"<tr><td>parameters</td><td>{params[0]:,}–{params[-1]:,}</td></tr>" in page
    assert "<tr><td>seed</td><td>0, 1</td></tr>" in page
    first = sweep.trials[0]["best_val_acc"]
    assert "<th>best val acc %</th>" in page and f"<td>{100 * first:.2f}</td>" in page  # the trials table


def test_a_results_table_may_wrap_its_titles_to_fit_the_page(grid):
    page = write_report(grid.path).report.read_text()
    assert "<th>model.<wbr>hidden.<wbr>units</th>" in page and "<th>optimizer.<wbr>lr</th>" in page
    assert re.search(r"th \{[^}]*white-space: normal", page)  # while a cell's number stays on one line
    assert re.search(r"td \{[^}]*white-space: nowrap", page)


def test_partial_and_failed_folders_are_reported_with_what_was_skipped(run, tmp_path, cli):
    partial = tmp_path / "partial"
    shutil.copytree(run.path, partial, ignore=shutil.ignore_patterns("*.png", "report.*"))
    (partial / "metrics.csv").unlink()
    (partial / "summary.md").unlink()
    (partial / "model.npz.tmp-123").write_bytes(b"half a file")  # an interrupted write's leftover
    result = cli("report", "partial")
    assert result.returncode == 0, result.stderr
    assert "skipped curves: " in result.stdout and "has no evaluation to draw yet" in result.stdout
    page = (partial / "report.html").read_text()
    assert "No summary.md yet" in page and "Not drawn: curves:" in page and "tmp-123" not in page
    assert len(embedded_images(page)) == 1  # the graph needs only the config
    (tmp_path / "stuff").mkdir()
    result = cli("report", "stuff")
    assert result.returncode == 2 and "neither a run folder" in result.stderr
    result = cli("report", "partial", "--format", "pdf")
    assert result.returncode == 2 and "no report format 'pdf'" in result.stderr


@needs_browser
def test_the_html_renders_in_a_real_browser(run, sweep, tmp_path):
    assert BROWSER is not None, "NNRUN_REQUIRE_BROWSER is set but chromium-headless-shell is not installed"
    for folder in (run.path, sweep.path):
        report = write_report(folder).report
        flags = ["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--hide-scrollbars"]
        shot = tmp_path / f"{folder.name}.png"
        subprocess.run([BROWSER, *flags, f"--screenshot={shot}", "--window-size=1200,1600", report.as_uri()],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        pixels = np.asarray(Image.open(shot).convert("L"), dtype=float)
        assert pixels.shape == (1600, 1200) and pixels.std() > 15, "the page rendered blank"
        # a copy with a probe: once loaded, the page records how many of its images the browser decoded
        probe = tmp_path / f"{folder.name}-probe.html"
        probe.write_text(report.read_text().replace("</body>", DECODED + "</body>"))
        dom = subprocess.run([BROWSER, *flags, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                             check=True, capture_output=True, text=True, timeout=120).stdout  # fmt: skip
        images = len(embedded_images(report.read_text()))
        assert dom.count("<table") >= 3 and dom.count("<img") == images >= 2
        assert f'data-decoded="{images}"' in dom and "Environment</h2>" in dom


# once loaded, the page records where its first table's last column ends, and where the box that holds it does
EDGES = """<script>window.addEventListener("load", () => { const table = document.querySelector("table");
  const last = table.rows[0].cells[table.rows[0].cells.length - 1].getBoundingClientRect();
  const box = table.parentElement.getBoundingClientRect();
  document.body.setAttribute("data-edges", `${last.right} ${box.right}`); });</script>"""


@needs_browser
def test_a_sweeps_results_table_shows_its_last_column_at_1280_pixels(grid, tmp_path):
    # at 1280 px, `best epoch` and `s/trial` were hidden behind the right edge of the results table's box
    assert BROWSER is not None, "NNRUN_REQUIRE_BROWSER is set but chromium-headless-shell is not installed"
    report = write_report(grid.path).report
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", EDGES + "</body>"))
    flags = ["--no-sandbox", "--disable-gpu", "--allow-file-access-from-files", "--window-size=1280,900"]
    dom = subprocess.run([BROWSER, *flags, "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    assert "<th>s/trial</th>" in dom
    last, box = map(float, re.search(r'data-edges="([\d.]+) ([\d.]+)"', dom).groups())
    assert last <= box + 0.5, f"the last column ends at {last} px, its box at {box} px"


def test_a_sweep_with_a_failed_trial_is_drawn_and_reported_without_it(tmp_path, cli):
    config = small_config(train={"epochs": 2, "batch_size": 64}, optimizer={"type": "sgd", "lr": 0.05})
    config["sweep"] = {"parameters": {"optimizer.lr": [0.05, 1e30]}}  # the second overflows to nan
    study = nnrun.sweep(config, out=tmp_path / "sweep", workers=2, plot=False)
    failed = next(row for row in study.trials if row["status"] == "failed")
    result = cli("plot", "sweep")
    assert result.returncode == 0, result.stderr
    assert f"left out trial {failed['trial']} (point 2, seed 0) failed: the training loss became nan" in result.stdout
    assert (tmp_path / "sweep" / "val_acc_curves.png").is_file()
    page = write_report(study.path).report.read_text()
    assert f"<td>{failed['trial']}</td>" in page and "<td>failed</td>" in page
    assert f"Not drawn: trial {failed['trial']} (point 2, seed 0) failed: the training loss became nan" in page
