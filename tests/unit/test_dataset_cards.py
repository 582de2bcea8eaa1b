"""Every artifact kind's dataset card is as good as synth's: the command that made it as typed, and how it was made
(what it was derived from, by which judge or rule, and the model that wrote the texts)."""

from __future__ import annotations

import pytest

from harness.config import JudgeConfig, SelectConfig
from harness.stages.judge import run_judge
from harness.stages.push import push_dataset
from harness.stages.select import run_select
from tests.unit.judged_samples import star_artifact

MODEL = {"requested": "default", "source": "bundled", "fingerprint": "sha256:abc", "path": "/nowhere"}


@pytest.fixture(scope="module")
def cards(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cards")
    star_artifact(tmp / "star", model=MODEL)
    run_judge(JudgeConfig(input=str(tmp / "star"), output=str(tmp / "judged"), judges=["exact"]))
    run_select(SelectConfig(mode="pairs", input=str(tmp / "judged"), output=str(tmp / "pairs")))
    run_select(SelectConfig(mode="best-of-n", input=str(tmp / "judged"), output=str(tmp / "best")))
    out = {}
    for name in ("star", "judged", "pairs", "best"):
        push_dataset(str(tmp / name), f"me/{name}", to_dir=str(tmp / f"push-{name}"), allow_unchecked=True)
        out[name] = (tmp / f"push-{name}" / "README.md").read_text()
    return out


@pytest.mark.parametrize(
    ("name", "command"),
    [("star", "synth --task star"), ("judged", "judge --judge exact"), ("pairs", "select pairs"),
     ("best", "select best-of-n")],
)  # fmt: skip
def test_the_card_names_the_command_as_typed(cards, name, command):
    assert f"(`harness {command}`)" in cards[name]


@pytest.mark.parametrize("name", ["star", "judged", "pairs", "best"])
def test_the_card_says_how_the_rows_were_made(cards, name):
    how = cards[name].split("## How it was made")[1].split("\n## ")[0]
    assert "does not say" not in how
    assert "`default` (bundled; weights fingerprint `sha256:abc`)" in how  # the model that wrote the texts


def test_derived_cards_name_their_input_and_rule(cards):
    assert "Judged from the artifact" in cards["judged"] and "`exact` (verifier)" in cards["judged"]
    pairs = cards["pairs"]
    assert "Selected from the judged artifact" in pairs and "by `judge_exact_score`: a score >= 1.0" in pairs
    assert "- Input `" in pairs.split("## Provenance")[1]


def test_star_s_own_pairs_card_says_they_were_rebuilt_from_the_synth_artifact(tmp_path):
    from harness.artifacts.writer import read_provenance
    from harness.stages.synth import write_pairs
    from tasks.star import StarTask

    star = star_artifact(tmp_path / "star", model=MODEL)
    shards = sorted(star.glob("*.parquet"))
    identity = {k: read_provenance(shards[0])[k] for k in ("task", "input")}
    assert write_pairs(StarTask(), shards, tmp_path / "star-pairs", identity) > 0
    push_dataset(str(tmp_path / "star-pairs"), "me/star-pairs", to_dir=str(tmp_path / "push"), allow_unchecked=True)
    card = (tmp_path / "push" / "README.md").read_text()
    assert "(`harness synth --task star`)" in card
    assert f"pairs of samples of the same question, rebuilt from the synth artifact `{star}`" in card
