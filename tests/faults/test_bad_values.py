"""Bad values are refused before anything compiles or trains, with the key they belong to and no folder left."""

from __future__ import annotations

import pytest

import nnrun
import nnrun.runs.trainer
from nnrun.errors import ConfigError
from tests.helpers import small_config

BAD = {  # override -> what the message must say
    "model.layers.1={type: dropout, rate: 1.5}": "model.layers[1].rate: Input should be less than 1",
    "model.hidden.units=0": "model.layers[0].units: Input should be greater than 0",
    "optimizer.weight_decay=-0.1": "optimizer.weight_decay: Input should be greater than or equal to 0",
    "train.batch_size=5000": "train.batch_size: a batch of 5000 is larger than the 1168 training examples",
    "data.classes=[]": "data.classes: List should have at least 1 item",
}


@pytest.mark.parametrize("override", sorted(BAD))
def test_a_bad_value_is_refused_before_compiling(override, tmp_path, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("it compiled or trained")

    monkeypatch.setattr(nnrun.runs.trainer.Trainer, "compile", never)
    monkeypatch.setattr(nnrun.runs.trainer, "compile_model", never)
    with pytest.raises(ConfigError) as refused:
        nnrun.train(small_config(), [override], out=tmp_path / "results" / "run")
    assert BAD[override] in refused.value.message()
    assert refused.value.exit_code == 2
    assert not (tmp_path / "results").exists()  # not even the parent folder it would have made
