"""`nnrun check` against the data: the config's model and loss checked as `train` checks them, on the data's
shape and classes read without loading it (nnrun.data's peek), so that "config ok" means `train` will start."""

from __future__ import annotations

from nnrun.config import Config
from nnrun.data import DataNotFound, DataShape, peek_dataset
from nnrun.model import Sequential, check_fits
from nnrun.registry import LOSSES


def against_data(cfg: Config, model: Sequential) -> tuple[DataShape | None, str | None]:
    """The data's shape and classes, checked against the loss and the model as `train` checks them, and a
    warning: why the data was not checked, or that its files are missing. Raises what `train` would raise."""
    resolved = cfg.resolved()
    try:
        data = peek_dataset(resolved["data"])
    except DataNotFound as error:
        return None, f"data not checked: {error.what}" + (f"\n  {error.hint}" if error.hint else "")
    if data is None:
        return None, f"data not checked: dataset '{resolved['data']['dataset']}' tells its shape only once loaded"
    loss = LOSSES.build(resolved["loss"], where="loss")
    loss.check_targets(data.num_classes)
    check_fits(model, loss, data.input_shape, data.num_classes)
    if data.where is None and not data.downloads:
        where = resolved["data"].get("path")
        how = f"check data.path ({where})" if where else f"`nnrun data download {data.name}` gets them or says how"
        return data, f"{data.name}'s files were not found, and `train` cannot start without them: {how}"
    return data, None
