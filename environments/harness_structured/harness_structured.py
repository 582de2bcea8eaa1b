"""The `harness-structured` verifiers environment: `vf-eval harness-structured` imports this module and calls
`load_environment`. All of it is harness.environments (docs/verdicts.md)."""

from harness.environments import load_environment as _load


def load_environment(**kwargs):
    """The structured task family's environment; keyword arguments as harness.environments.load_environment's."""
    return _load("structured", **kwargs)
