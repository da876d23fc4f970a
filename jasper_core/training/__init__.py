"""The training loop and what it is made of (assembly, target space, steps, checkpoints)."""
