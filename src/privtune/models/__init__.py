"""privtune.models: local-only model handling.

* :mod:`~privtune.models.tokenizer` - byte-level BPE tokenizer with a Mistral chat template;
* :mod:`~privtune.models.tiny` - the tiny Mistral-architecture model;
* :mod:`~privtune.models.pretrain` - pre-training and caching of the tiny base;
* :mod:`~privtune.models.loading` - loading any local HF model directory, lineage hash.

Submodules are imported on demand (torch and transformers are heavy to import).
"""
