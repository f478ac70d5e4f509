"""ner_lightning: PyTorch Lightning + Hydra experiments for Chinese named-entity recognition."""

__version__ = "0.1.0"
