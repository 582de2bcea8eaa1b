"""reasoning-harness: synthesize, judge, evaluate and train on reasoning-trace datasets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("reasoning-harness")
except PackageNotFoundError:  # running from a checkout that was not installed
    __version__ = "0.0.0+unknown"
