"""Eval sets: MMLU, the lm-eval adapter, the registry of sets a gate checks against, n-gram overlap, the gate."""
