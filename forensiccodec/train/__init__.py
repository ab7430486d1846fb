"""Training: losses and the one loop every `fcc train-*` command uses."""
