"""snndeploy: train, fold, export and verify spiking neural networks."""
__version__ = "0.1.0"
