"""Whether an input was checked against the eval sets: the gate of `harness train` and `harness push`.

An input counts as checked when `harness decontam` wrote it, or wrote an artifact it was derived from: the
provenance of each artifact names its input, and the chain is followed back. Stages after decontam keep its
verdict (judge copies the `decontam_clean` column; select and train leave contaminated rows out), so every
row downstream of a decontam run is either marked or clean. The check must include MMLU, the eval set
`harness eval` runs; anything else is refused unless `--allow-unchecked` is given.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from harness.artifacts.sources import InputError
from harness.artifacts.writer import PART_RE, read_provenance, verify_shards
from harness.evalsets.registry import MMLU

CLEAN = "decontam_clean"
MAX_HOPS = 16  # a provenance chain longer than this is not followed further


@dataclass
class DecontamStatus:
    checked: bool
    against: list[dict[str, Any]] = field(default_factory=list)  # the eval sets, as decontam recorded them
    artifact: str | None = None  # where decontam wrote its output
    ngram: int | None = None
    contaminated: int | None = None  # rows that run marked (or dropped, with `dropped` true)
    dropped: bool = False
    allowed_unchecked: bool = False
    checked_input: str | None = None  # what that decontam run read

    @property
    def names(self) -> list[str]:
        return [s["name"] for s in self.against]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        if not self.checked:
            return "not checked against any eval set" + (" (--allow-unchecked)" if self.allowed_unchecked else "")
        sets = "; ".join(f"{s['name']} ({s.get('detail') or s.get('items')})" for s in self.against)
        action = "dropped" if self.dropped else "marked and left out"
        return f"checked against {sets} with {self.ngram}-gram overlap in {self.artifact}: {self.contaminated} rows {action}"


def decontam_status(spec: str | Path) -> DecontamStatus:
    """Follow the input's provenance back to a `harness decontam` run; unchecked when there is none."""
    path, seen = Path(spec), set()
    for _ in range(MAX_HOPS):
        shards = sorted(p for p in path.glob("*.parquet") if PART_RE.match(p.name)) if path.is_dir() else []
        if not shards or path.resolve() in seen:
            break
        seen.add(path.resolve())
        provenances = [_provenance(path, s) for s in shards]
        runs = [p for p in provenances if p.get("stage") == "decontam"]
        if runs:
            settings = runs[-1]["decontam"]
            counts = [p.get("decontam_rows", {}).get("contaminated", 0) for p in runs]
            read = runs[-1].get("input")
            return DecontamStatus(
                True, settings["against"], str(path), settings["ngram"], sum(counts), bool(settings.get("drop")),
                checked_input=read.get("label") if isinstance(read, dict) else None,
            )  # fmt: skip
        upstream = provenances[-1].get("input")
        label = upstream.get("label") if isinstance(upstream, dict) else upstream
        if not isinstance(label, str):
            break
        path = Path(label)
    return DecontamStatus(False)


def _provenance(folder: Path, shard: Path) -> dict[str, Any]:
    """A shard's provenance; a corrupted or unreadable shard is named (an input error, not a traceback)."""
    verify_shards(folder, [shard])
    try:
        return read_provenance(shard)
    except (OSError, pa.ArrowException) as err:
        raise InputError(f"{shard}: not a readable Parquet file ({err})") from err


def require_checked(spec: str | Path, allow_unchecked: bool, rerun: str) -> DecontamStatus:
    """The input's status; an InputError when it was not checked against MMLU and that was not allowed.
    `rerun`: the refused command with its input written DIR, which the error advises after decontam."""
    status = decontam_status(spec)
    if allow_unchecked:
        status.allowed_unchecked = not status.checked or MMLU not in status.names
        return status
    if not status.checked:
        raise InputError(
            f"{spec}: never checked against the eval sets (no `harness decontam` in its provenance). Run "
            f"`{_decontam(spec)}`, then `{rerun}`, or pass --allow-unchecked"
        )
    if MMLU not in status.names:
        # decontam refuses its own output (already marked): the advice checks what that run read, again
        checked = status.checked_input or spec
        raise InputError(
            f"{spec}: checked against {', '.join(status.names)} but not mmlu, which `harness eval` runs; run "
            f"`{_decontam(checked)}`, then `{rerun}`, or pass --allow-unchecked"
        )
    return status


def _decontam(spec: str | Path) -> str:
    return shlex.join(["harness", "decontam", "--input", str(spec), "--against", "mmlu", "--output", "DIR"])
