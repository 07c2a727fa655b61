"""Figures and reports drawn from run and sweep folders: they read what runs wrote, never train.

style.py       one look for every figure: the colour of each split, sizes, accuracies in % inside their range,
               legends in the order of their values, saving atomically as png/svg/pdf
curves.py      a run's accuracy, loss and learning rate against epoch or step, the best evaluation marked
boundary.py    decision boundaries of 2-D models over their data, one run or a sweep's small multiples
run_figures.py which figures a run gets, and who draws them: the run's writer, `nnrun plot`, `nnrun report`
predict.py     a trained run's predicted classes for a split (what boundary.py and inspect.py draw)
inspect.py     inspecting a trained run on one split: confusion matrix, misclassified examples, filters, maps
filters.py     the first layer's filters (conv2d) or units' input weights (dense on images) as an image grid
embedding.py   t-SNE or PCA maps of a hidden layer's activations, or of a dense layer's units by their weights
graph.py       a config's network drawn as a chain of boxes: layers, output shapes, parameters
diagnostics.py a run's per-layer diagnostics (train.diagnostics, diagnostics.csv) against epoch
compare.py     several runs overlaid, each labelled by the config values in which the runs differ
sweep.py       a sweep's metric against each parameter (mean ± std over seeds), a heatmap for two, and every
               point's training curve with its band across seeds
sections.py    a report's content (tables, figures, config, environment, timings) as blocks
document.py    those blocks written as one self-contained HTML file, or as Markdown with the images beside it
runs_table.py  every run and sweep under a folder in one table (`nnrun runs`), from their summaries alone

matplotlib and scikit-learn are imported inside the drawing functions: training imports curves.py for its
curves.png, and must not pay for them.
"""
