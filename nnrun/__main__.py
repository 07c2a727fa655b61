"""`python -m nnrun` runs the CLI."""

from nnrun.cli import main

main()
