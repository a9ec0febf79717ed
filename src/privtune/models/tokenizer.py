"""Train a small byte-level BPE tokenizer with a Mistral-style chat template.

The tokenizer is built with the ``tokenizers`` library (the one behind every "fast" tokenizer
in ``transformers``) and wrapped as a :class:`~transformers.PreTrainedTokenizerFast`, so that it
is saved with ``save_pretrained`` and loaded back with
``AutoTokenizer.from_pretrained(dir, local_files_only=True)`` exactly like the tokenizer of a
real Mistral checkpoint.

Byte-level BPE has the 256 bytes in its base vocabulary: any text (every script, emoji, names
that never occurred in training) encodes and decodes back unchanged, and ``<unk>`` is never
produced. Training is deterministic for the same texts and vocabulary size.

The chat template follows Mistral's instruct format::

    <s>[INST] {system}\\n\\n{user} [/INST] {answer}</s>[INST] {user} [/INST] {answer}</s>

With ``add_generation_prompt=True`` nothing is appended: ``[/INST]`` already is the prompt.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

BOS, EOS, UNK, PAD = "<s>", "</s>", "<unk>", "<pad>"
INST_OPEN, INST_CLOSE = "[INST]", "[/INST]"
SPECIAL_TOKENS: list[str] = [UNK, BOS, EOS, PAD, INST_OPEN, INST_CLOSE]

# Mistral instruct format. A leading system message is merged into the first user turn, as in
# Mistral's own templates. Roles must alternate user/assistant after the optional system message.
CHAT_TEMPLATE = (
    "{%- if messages and messages[0]['role'] == 'system' -%}"
    "{%- set system_message = messages[0]['content'] -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{{ bos_token }}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('conversation roles must alternate user/assistant after an optional system message') }}"
    "{%- endif -%}"
    "{%- if message['role'] == 'user' -%}"
    "{{ '[INST] ' }}"
    "{%- if loop.first and system_message -%}{{ system_message + '\\n\\n' }}{%- endif -%}"
    "{{ message['content'] + ' [/INST]' }}"
    "{%- elif message['role'] == 'assistant' -%}"
    "{{ ' ' + message['content'] + eos_token }}"
    "{%- else -%}"
    "{{ raise_exception('unknown role in conversation') }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)


def _as_iterator(texts: Iterable[str]) -> Iterator[str]:
    for text in texts:
        if not isinstance(text, str):
            raise TypeError("train_tokenizer expects an iterable of str")
        yield text


def build_bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> Tokenizer:
    """Train the raw ``tokenizers`` byte-level BPE model (no ``transformers`` wrapper)."""
    min_size = len(SPECIAL_TOKENS) + len(pre_tokenizers.ByteLevel.alphabet())
    if vocab_size < min_size:
        raise ValueError(f"vocab_size must be at least {min_size} (special tokens + 256 bytes)")
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_as_iterator(texts), trainer=trainer)
    # Like Mistral's tokenizer, plain encoding prepends <s> (chat templates write it themselves
    # and are encoded with add_special_tokens=False). Offsets stay exact (no trimming): the
    # loss mask relies on character offsets.
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    return tok


def wrap_tokenizer(tok: Tokenizer) -> PreTrainedTokenizerFast:
    """Wrap a raw tokenizer with the special tokens and chat template privtune relies on."""
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        additional_special_tokens=[INST_OPEN, INST_CLOSE],
        model_max_length=1_000_000,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    return fast


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, out_dir: Path) -> None:
    """``save_pretrained`` with the chat template kept inside ``tokenizer_config.json``."""
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    tokenizer.save_pretrained(str(out_dir), save_jinja_files=False)


def train_tokenizer(texts: Iterable[str], vocab_size: int, out_dir: Path) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` and save it to ``out_dir``.

    Returns the tokenizer (a ``PreTrainedTokenizerFast``). The directory then loads with
    ``AutoTokenizer.from_pretrained(out_dir, local_files_only=True)``. Special tokens: ``<s>``,
    ``</s>``, ``<unk>``, ``<pad>``, ``[INST]``, ``[/INST]``. The vocabulary may end up smaller
    than ``vocab_size`` when the texts are too short to learn that many merges.
    """
    # The Rust trainer is deterministic; turning its thread pool off avoids fork warnings later.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    fast = wrap_tokenizer(build_bpe_tokenizer(texts, vocab_size))
    save_tokenizer(fast, Path(out_dir))
    return fast
