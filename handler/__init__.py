"""The TorchServe handler: exactly the Python packed into model_store/mnist.mar."""
