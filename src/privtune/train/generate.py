"""Load a base model with a saved LoRA adapter, and generate an answer to a conversation.

The prompt is the tokenizer's chat template with the generation prompt (for Mistral: the
conversation up to ``[/INST]``); the returned text is the decoded new tokens without special
tokens. Decoding is greedy by default, so answers are reproducible.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from peft import PeftModel
from transformers import GenerationConfig

from privtune.errors import InputError
from privtune.models.loading import load_local_model, quiet_progress_bars
from privtune.netguard import enable_offline_mode


def load_adapter(base_dir: Path, adapter_dir: Path) -> tuple[PeftModel, Any]:
    """``(model, tokenizer)``: the local base with the LoRA adapter of ``adapter_dir``, eval mode."""
    enable_offline_mode()
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / "adapter_config.json").is_file():
        raise InputError("not an adapter directory: adapter_config.json is missing",
                         path=adapter_dir)
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise InputError("not an adapter directory: adapter_model.safetensors is missing",
                         path=adapter_dir)
    base, tokenizer = load_local_model(base_dir)
    with quiet_progress_bars():
        model = PeftModel.from_pretrained(base, str(adapter_dir), is_trainable=False)
    model.eval()
    return model, tokenizer


@torch.no_grad()
def generate(
    model: Any,
    tokenizer: Any,
    messages: list[dict[str, str]],
    max_new_tokens: int = 64,
    greedy: bool = True,
    temperature: float = 1.0,
) -> str:
    """The model's answer to ``messages`` (which should end with a user message)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    enc = tokenizer(text, add_special_tokens=False, return_tensors="pt")
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in enc.items()}
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=not greedy,
        temperature=None if greedy else temperature,
        top_p=None,
        top_k=None,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.bos_token_id,
    )
    was_training = model.training
    model.eval()
    try:
        out = model.generate(**enc, generation_config=config)
    finally:
        model.train(was_training)
    new_tokens = out[0, enc["input_ids"].shape[1]:]
    return tokenizer.decode(new_tokens, skip_special_tokens=True).strip()
