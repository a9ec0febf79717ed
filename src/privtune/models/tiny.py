"""A tiny model with the real Mistral architecture, for CPU runs, demos and tests.

:func:`build_tiny_model` creates a randomly initialised :class:`MistralForCausalLM` from a
:class:`MistralConfig`: grouped-query attention, rotary position embeddings, SwiGLU MLP and
RMSNorm, i.e. the same modules (``q_proj``, ``k_proj``, ``v_proj``, ``o_proj``, ``gate_proj``,
``up_proj``, ``down_proj``) that LoRA targets in Mistral-7B. Only the sizes differ: the default
:class:`TinyModelSpec` has about 1.3 M parameters (most of them in the tied embedding).
"""

from __future__ import annotations

import torch
from pydantic import Field, model_validator
from transformers import MistralConfig, MistralForCausalLM, PreTrainedTokenizerBase

from privtune.config import StrictModel


class TinyModelSpec(StrictModel):
    """Sizes of the tiny Mistral. ``vocab_size`` is also the tokenizer's target size."""

    vocab_size: int = Field(default=4096, ge=300, description="embedding rows (tokenizer target size)")
    hidden_size: int = Field(default=128, ge=8)
    intermediate_size: int = Field(default=384, ge=8)
    num_hidden_layers: int = Field(default=4, ge=1)
    num_attention_heads: int = Field(default=4, ge=1)
    num_key_value_heads: int = Field(default=2, ge=1)
    max_position_embeddings: int = Field(default=256, ge=16)
    tie_word_embeddings: bool = True
    seed: int = 0

    @model_validator(mode="after")
    def _check_heads(self) -> TinyModelSpec:
        if self.hidden_size % self.num_attention_heads:
            raise ValueError("hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")
        if (self.hidden_size // self.num_attention_heads) % 2:
            raise ValueError("the head size (hidden_size / num_attention_heads) must be even (RoPE)")
        return self


def tiny_config(spec: TinyModelSpec, tokenizer: PreTrainedTokenizerBase) -> MistralConfig:
    """The :class:`MistralConfig` for ``spec``; special-token ids come from ``tokenizer``.

    The embedding has ``max(spec.vocab_size, len(tokenizer))`` rows: a tokenizer trained on a
    short corpus may stop below its target size, and the model keeps the spec's size.
    """
    return MistralConfig(
        vocab_size=max(spec.vocab_size, len(tokenizer)),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        max_position_embeddings=spec.max_position_embeddings,
        sliding_window=spec.max_position_embeddings,
        tie_word_embeddings=spec.tie_word_embeddings,
        hidden_act="silu",
        rms_norm_eps=1e-6,
        initializer_range=0.02,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )


def build_tiny_model(spec: TinyModelSpec, tokenizer: PreTrainedTokenizerBase) -> MistralForCausalLM:
    """A freshly initialised (seeded, float32) :class:`MistralForCausalLM` of ``spec``'s size."""
    config = tiny_config(spec, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        model = MistralForCausalLM(config)
    model.to(torch.float32)  # type: ignore[arg-type]  # transformers' decorator on .to hides the bound self
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def count_params(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of (unique) parameters; tied weights count once."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
