"""privtune.train: LoRA fine-tuning on chat examples.

* :mod:`~privtune.train.spec` - ``LoraSpec`` and ``TrainSpec`` (config sections);
* :mod:`~privtune.train.data` - chat template encoding, assistant-only labels, padding;
* :mod:`~privtune.train.loss` - per-sequence mean loss;
* :mod:`~privtune.train.lora` - the PEFT training loop (``finetune_lora``);
* :mod:`~privtune.train.evaluate` - validation loss;
* :mod:`~privtune.train.generate` - loading an adapter and generating answers.
"""
