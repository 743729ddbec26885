"""TorchServe side of the project: the custom handler, its preprocessing and the server launcher."""
