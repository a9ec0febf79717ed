"""privtune.train: LoRA fine-tuning on chat examples.

* :mod:`~privtune.train.spec` - ``LoraSpec`` and ``TrainSpec`` (config sections);
* :mod:`~privtune.train.data` - chat template encoding, assistant-only labels, padding;
* :mod:`~privtune.train.loss` - per-sequence mean loss;
* :mod:`~privtune.train.inputs` - encoded examples, hardware and checkpoint, before the model;
* :mod:`~privtune.train.lora` - LoRA wrapping and the entry points (``train_lora``,
  ``finetune_lora``), which build the model and call the loop;
* :mod:`~privtune.train.loop` - the training loop (``run_loop``);
* :mod:`~privtune.train.strategy` / :mod:`~privtune.train.step` - the step strategy the loop
  plugs in, and the plain LoRA step (DP's lives in :mod:`privtune.dp.strategy`);
* :mod:`~privtune.train.evaluate` - validation loss;
* :mod:`~privtune.train.generate` - loading an adapter and generating answers.
"""
