"""The specification layer: tasks.yaml, task model, hyperparameters, and the registry."""
