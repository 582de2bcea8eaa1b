"""The `harness-star` verifiers environment: `vf-eval harness-star` imports this module and calls
`load_environment`. All of it is harness.environments (docs/verdicts.md)."""

from harness.environments import load_environment as _load


def load_environment(**kwargs):
    """The star task family's environment; keyword arguments as harness.environments.load_environment's."""
    return _load("star", **kwargs)
