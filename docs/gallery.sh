#!/usr/bin/env bash
# Makes the gallery of docs/figures.md (docs/img/) from the shipped configs and studies, with the commands
# the page shows beside each figure. Folders under results/gallery/ that exist are reused (a sweep resumes), so a
# second run only redraws. First run: about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
nnrun=.venv/bin/nnrun
runs=results/gallery
mkdir -p docs/img "$runs"

[ -f "$runs/fashion_cnn/summary.json" ] ||
    $nnrun train configs/fashion_cnn.yaml --set train.epochs=5 --out "$runs/fashion_cnn" --quiet
$nnrun plot "$runs/fashion_cnn" --inspect
$nnrun plot --graph configs/cnn.yaml --out "$runs"
for study in hidden_units moons_activations losses; do
    $nnrun sweep "configs/studies/$study.yaml" --out "$runs/$study" --quiet --no-plot ||
        $nnrun sweep "configs/studies/$study.yaml" --resume "$runs/$study" --quiet --no-plot
    $nnrun plot "$runs/$study"
done
$nnrun report "$runs/hidden_units"
if command -v chromium-headless-shell >/dev/null; then  # the report as a browser shows it
    chromium-headless-shell --no-sandbox --disable-gpu --hide-scrollbars --window-size=1200,1500 \
        --screenshot="$runs/report.png" "file://$PWD/$runs/hidden_units/report.html" 2>/dev/null
fi

# 256-colour PNGs: a tenth of the size, and the same to the eye for line plots and heatmaps
.venv/bin/python - "$runs" <<'PY'
import sys
from pathlib import Path

from PIL import Image

runs = Path(sys.argv[1])
figures = {
    "curves.png": "fashion_cnn/curves.png",
    "confusion.png": "fashion_cnn/confusion.png",
    "misclassified.png": "fashion_cnn/misclassified.png",
    "filters.png": "fashion_cnn/filters.png",
    "tsne.png": "fashion_cnn/activations_tsne.png",
    "graph.png": "cnn_graph.png",
    "hidden_units.png": "hidden_units/val_acc_vs_model.hidden.units.png",
    "hidden_units_curves.png": "hidden_units/val_acc_curves.png",
    "losses_heatmap.png": "losses/val_acc_heatmap.png",
    "moons_boundaries.png": "moons_activations/boundaries.png",
}
if (runs / "report.png").is_file():
    figures["report.png"] = "report.png"
for name, source in figures.items():
    image = Image.open(runs / source).convert("RGB").quantize(256, dither=Image.Dither.NONE)
    image.save(Path("docs/img") / name, optimize=True)
    print(f"docs/img/{name} <- {runs / source} ({(Path('docs/img') / name).stat().st_size // 1024} KiB)")
PY
