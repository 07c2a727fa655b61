"""Checks that a model and a run can be trusted: `nnrun gradcheck`, `nnrun check --sanity`, `nnrun verify`.

data.py        a config against its data's shape and classes, without loading it (`nnrun check`)
gradcheck.py   analytic gradients against central differences, in float64, layer by layer and end to end
sanity.py      cs231n's two checks: the initial loss near log(classes), and overfitting a few examples
verify.py      a finished run trained again from its config, compared bit for bit
"""
