"""The pipelines that ship with the harness: the demo and the five cards' methods, one YAML file each.

`harness run NAME` finds them by name; any other argument is a path to the user's own pipeline file.
"""

from __future__ import annotations

from pathlib import Path

from harness.config.base import ConfigError, read_settings_file

FOLDER = Path(__file__).parent
ORDER = ("demo", "backfill", "thought-ranking", "structured", "memphis", "reasoning-token")


def shipped() -> dict[str, str]:
    """name -> its one-line description, the demo first, then the cards."""
    names = sorted(
        (p.stem for p in FOLDER.glob("*.yaml")), key=lambda n: (n not in ORDER, ORDER.index(n) if n in ORDER else 0, n)
    )
    return {name: read_settings_file(FOLDER / f"{name}.yaml").get("description", "") for name in names}


def find_pipeline(name_or_path: str) -> Path:
    """A shipped pipeline by name, else the file at that path."""
    if (FOLDER / f"{name_or_path}.yaml").is_file() and "/" not in name_or_path:
        return FOLDER / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if path.is_file():
        return path
    raise ConfigError(
        f"{name_or_path}: no such pipeline file, nor a shipped pipeline ({', '.join(shipped())}); "
        "see `harness run --list`"
    )
