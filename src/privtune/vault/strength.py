"""How strong a new vault passphrase must be: a length floor and a zxcvbn guess estimate.

The passphrase KEK is Argon2id-stretched, but an offline dictionary attack on the KEK's check
value still tries the likely passphrases first: the red team found ``summer2024`` at 0.25 s
per guess. A new passphrase (``init``, ``keys rotate --new-passphrase``) needs at least
:data:`MIN_LENGTH` characters and a zxcvbn estimate of at least 10^:data:`MIN_GUESSES_LOG10`
guesses (zxcvbn's top score: ~80 years at 0.25 s a guess on one core, before parallelism);
four or five random words pass, a word plus a year does not. ``--allow-weak-passphrase``
(``KekSpec(allow_weak=True)``) accepts a weaker one on purpose, e.g. for throwaway workspaces
of synthetic data. The message names what is wrong, never the passphrase.
"""

from __future__ import annotations

from privtune.errors import InputError

MIN_LENGTH = 12
MIN_GUESSES_LOG10 = 10.0
ALLOW_FLAG = "--allow-weak-passphrase"


class WeakPassphrase(InputError):
    """A new vault passphrase is too short or too easy to guess."""


def guesses_log10(passphrase: str) -> float:
    """log10 of zxcvbn's estimate of the guesses needed (its input is capped at 100 chars)."""
    from zxcvbn import zxcvbn

    return float(zxcvbn(passphrase[:100])["guesses_log10"])


def check_passphrase(passphrase: str) -> None:
    """Raise :class:`WeakPassphrase` unless ``passphrase`` is long and hard enough to guess."""
    if len(passphrase) < MIN_LENGTH:
        raise WeakPassphrase(
            f"the vault passphrase has {len(passphrase)} characters; at least {MIN_LENGTH} are "
            f"needed (four or five random words are a good choice; {ALLOW_FLAG} overrides)",
            field="passphrase")
    score = guesses_log10(passphrase)
    if score < MIN_GUESSES_LOG10:
        raise WeakPassphrase(
            f"the vault passphrase is too easy to guess (about 10^{score:.0f} guesses, at least "
            f"10^{MIN_GUESSES_LOG10:.0f} needed: avoid words with years, common passwords and "
            f"keyboard patterns; {ALLOW_FLAG} overrides)", field="passphrase")
