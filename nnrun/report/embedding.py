"""Maps of what a hidden layer represents, in 2-D by t-SNE or PCA (scikit-learn), coloured by class (report 004).

- activations: a sample of a split's examples as the hidden layer sees them (default: the input of the
  output layer, i.e. the last hidden layer's output after its activation and dropout).
- weights: the units of a dense layer, each a point by its incoming weights, coloured by the class its
  largest outgoing weight to the output layer favours.

The sample and the projections are seeded, so the same run gives the same picture.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nnrun.data import Split, batches
from nnrun.errors import RunError
from nnrun.report.style import pyplot

METHODS = ("tsne", "pca")
SAMPLE = 1500  # examples in an activations map: enough to see clusters, a few seconds of t-SNE
BATCH = 1024


def find_layer(model: Any, layer: str | None, weights: bool) -> int:
    """The index of `layer` (a name or an index), or the default: the last hidden layer."""
    if layer is not None:
        for index, candidate in enumerate(model.layers):
            if layer in (str(index), candidate.name):
                return index
        known = ", ".join(f"{i} {candidate.name or candidate.type_name}" for i, candidate in enumerate(model.layers))
        raise RunError(f"the model has no layer {layer!r}", hint=f"give a name or an index: {known}")
    with_params = [index for index, candidate in enumerate(model.layers) if candidate.params]
    if len(with_params) < 2:
        raise RunError("the model has no hidden layer (one layer with weights), so nothing to map")
    # activations: all that reaches the output layer; weights: the last layer with weights before it
    return with_params[-2] if weights else with_params[-1] - 1


def describe(model: Any, index: int) -> str:
    """`layer 4 hidden (dense), after relu, dropout`: the layer with weights an output comes from, and what follows."""
    source = next((i for i in range(index, -1, -1) if model.layers[i].params), index)
    after = [model.layers[i].describe() for i in range(source + 1, index + 1)]
    return f"layer {source} {model.layers[source].describe()}" + (f", after {', '.join(after)}" if after else "")


def project(points: np.ndarray, method: str) -> np.ndarray:
    """(n, d) -> (n, 2). t-SNE goes through PCA to 50 dimensions first, as its authors advise."""
    from sklearn.decomposition import PCA  # imported here: scikit-learn is slow to load

    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    if method == "pca":
        return PCA(n_components=2, random_state=0).fit_transform(points)
    from sklearn.manifold import TSNE

    if points.shape[1] > 50 and len(points) > 50:
        points = PCA(n_components=50, random_state=0).fit_transform(points)
    perplexity = min(30.0, (len(points) - 1) / 3)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=0).fit_transform(points)


def activations_points(model: Any, split: Split, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Layer `index`'s outputs for a seeded sample of the split, with the sample's labels."""
    chosen = np.sort(np.random.default_rng(0).permutation(len(split.y))[:SAMPLE])
    sample = Split(split.x[chosen], split.y[chosen], split.scale, split.mean, split.std)
    outputs = [model.forward_to(xb, index).reshape(len(xb), -1).copy() for xb, _ in batches(sample, BATCH, model.dtype)]
    return np.concatenate(outputs), sample.y


def weights_points(model: Any, index: int) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Each unit's incoming weights, with the class its strongest outgoing weight favours where that is known."""
    layer = model.layers[index]
    weights = [array for key, array in layer.params.items() if key.endswith("weight")]
    if not weights or weights[-1].ndim != 2:
        raise RunError(f"layer {index} {layer.describe()} is not a dense layer", hint="choose one with --layer")
    incoming = weights[-1]  # (in, units); a dense_stack's last block is the one whose units come out
    nxt = next((later for later in model.layers[index + 1 :] if later.params), None)
    outgoing = nxt.params.get("weight") if nxt is not None else None
    if outgoing is None or outgoing.ndim != 2 or outgoing.shape[0] != incoming.shape[1] or nxt is not model.layers[-1]:
        return incoming.T, None, f"layer {index} {layer.describe()}"
    # one logit (logistic, hinge): its sign; else the argmax of the unit's row of output weights
    favoured = (outgoing[:, 0] > 0).astype(np.int64) if outgoing.shape[1] == 1 else np.argmax(outgoing, axis=1)
    return incoming.T, favoured, f"layer {index} {layer.describe()}"


def embedding_figure(points: np.ndarray, labels: np.ndarray | None, class_names: list[str], title: str,
                     method: str, legend: str = "class") -> Any:  # fmt: skip
    if len(points) < 5:
        raise RunError(f"only {len(points)} points to map; a map needs 5 or more")
    xy = project(points, method)
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(7.5, 6), layout="constrained")
    if labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=12, color="#555555", alpha=0.8, linewidths=0)
    else:
        colours = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
        for k in np.unique(labels):
            mask = labels == k
            name = class_names[k] if k < len(class_names) else str(k)
            ax.scatter(xy[mask, 0], xy[mask, 1], s=10, color=colours(int(k) % colours.N), alpha=0.8, linewidths=0,
                       label=f"{name} ({int(mask.sum())})")  # fmt: skip
        ax.legend(title=legend, loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=1.8, frameon=False)
    axis = "t-SNE" if method == "tsne" else "principal component"
    ax.set(xlabel=f"{axis} 1", ylabel=f"{axis} 2", title=title)
    if method == "tsne":  # t-SNE's coordinates carry no units: only the neighbourhoods mean something
        ax.set_xticks([])
        ax.set_yticks([])
    return figure
