"""Lectures whose rework for this release has not landed yet: the checks on committed notebooks and shipped
checkpoints skip them, saying so. Each lecture leaves this set when its rework lands; the set ends empty."""

PENDING: set[str] = set()
