"""The privacy gate: a policy of thresholds, the audit that measures a model against it, the
verdict, the HTML report, and the signed release of a model that passed."""
