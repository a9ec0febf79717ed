"""privtune: private, local fine-tuning of Mistral-family models on sensitive HR data."""

__version__ = "0.1.0"
