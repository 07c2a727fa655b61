"""Figures drawn from run and sweep folders."""
