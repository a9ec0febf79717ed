"""Privacy attacks run against a fine-tuned adapter before it may be released.

* :mod:`.canaries` — secret canary records planted in the training set at dataset build time;
* :mod:`.exposure` — the Secret Sharer exposure of each canary (exact and extrapolated);
* :mod:`.mia` — employee-level membership inference (loss threshold, reference-calibrated);
* :mod:`.extraction` — prompts built from an employee's context, regurgitation counts;
* :mod:`.prompt_attacks` — injection / jailbreak battery, counted the same way.

Every result holds counts, scores and masked examples only; secrets are compared inside the
process with values read from the vault and never written anywhere.
"""
