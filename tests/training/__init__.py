"""Losses, optimizers, schedules, whole-network gradients, the training loop and its thread pools."""
