"""`harness lineage` on the README's chain, run for real on the default model (tiny):
synth star -> judge exact -> select best-of-n / pairs -> decontam -> train sft, then back again."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from harness.artifacts.sources import open_source
from harness.cli import app
from harness.stages.lineage import model_lineage, row_lineage

pytestmark = pytest.mark.slow

QUESTIONS = Path(__file__).parents[1] / "fixtures" / "star_fewshot.jsonl"


def harness(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> dict[str, Path]:
    runs = tmp_path_factory.mktemp("runs")
    paths = {name: runs / name for name in ("star", "judged", "best", "pairs", "clean", "model")}
    sampling = ["--n", "8", "--max-tokens", "24", "--seed", "0", "--threads", "1"]
    harness("synth", "--task", "star", "--input", str(QUESTIONS), "-o", str(paths["star"]), *sampling)
    harness("judge", "--input", str(paths["star"]), "--judge", "exact", "--output", str(paths["judged"]))
    harness("select", "best-of-n", "--input", str(paths["judged"]), "--output", str(paths["best"]))
    harness("select", "pairs", "--input", str(paths["judged"]), "--output", str(paths["pairs"]))
    harness("decontam", "--input", str(paths["best"]), "--output", str(paths["clean"]), "--subsets", "anatomy")
    train = ["--max-steps", "1", "--batch-size", "2", "--max-length", "96", "--threads", "1"]
    harness("train", "sft", "--input", str(paths["clean"]), "--output", str(paths["model"]), *train)
    return paths


def _depth(hop) -> list:
    """The hops from this one to the source, following the first parent."""
    hops = [hop]
    while hops[-1].parents:
        hops.append(hops[-1].parents[0])
    return hops


def test_from_a_trained_models_data_back_to_the_source_row(chain):
    made = model_lineage(chain["model"])
    assert made.method == "sft" and made.input["label"] == str(chain["clean"]) and not made.problems
    assert [a["stage"] for a in made.chain] == ["decontam", "select", "judge", "synth", "source"]
    assert made.chain[3]["rows"] == 16 and made.chain[3]["rows_per_task"] == {"star": 16}
    assert made.decontam["checked"] and made.decontam["against"][0]["name"] == "mmlu"

    record = pq.read_table(chain["clean"]).column("record_id")[0].as_py()
    [hop] = row_lineage(chain["model"], record)
    hops = _depth(hop)
    assert [h.stage for h in hops] == ["decontam", "select", "judge", "synth", "source"]
    assert all(not h.problems for h in hops)
    judged, synth, source = hops[2], hops[3], hops[4]
    assert judged.judges["exact"]["reason"] and judged.verdicts  # the judge's score and reason, synth's verdicts
    assert synth.made_by["model"]["fingerprint"] and synth.made_by["sampling"]["n"] == 8
    assert synth.made_by["seed"] == 0 and synth.made_by["engine"]
    first = [v for _, v in open_source(str(QUESTIONS), {}).values()][source.row["source_index"]]
    assert source.row["question"] == first["question"]
    assert first["question"] in synth.prompt  # the prompt, rebuilt from the task and the row's inputs
    assert synth.row["sample_idx"] == hops[1].row["parent_sample_idx"]

    # the CLI, text and JSON
    text = harness("lineage", str(chain["model"]), "--record", record)
    assert "harness train sft" in text and "hop 5: source" in text and "judge exact:" in text
    data = json.loads(harness("lineage", str(chain["model"]), "--record", record, "--json"))
    assert data["model"]["method"] == "sft" and len(data["chains"]) == 1


def test_from_a_pair_back_to_both_samples(chain):
    pair = pq.read_table(chain["pairs"]).slice(0, 1).to_pylist()[0]
    [hop] = row_lineage(chain["pairs"], pair["record_id"])
    assert hop.stage == "select" and len(hop.parents) == 2
    candidates = sorted(p.row["candidate_idx"] for p in hop.parents)
    assert candidates == sorted([pair["chosen_candidate_idx"], pair["rejected_candidate_idx"]])
    for parent in hop.parents:
        assert [h.stage for h in _depth(parent)] == ["judge", "synth", "source"]
    texts = {p.parents[0].row["completion"] for p in hop.parents}
    assert any(t and t.strip() in pair["chosen"] for t in texts) and any(
        t and t.strip() in pair["rejected"] for t in texts
    )


def test_a_changed_shard_breaks_the_chain_where_it_changed(chain, tmp_path):
    import shutil

    judged = tmp_path / "judged"
    shutil.copytree(chain["judged"], judged)
    shard = sorted(judged.glob("*.parquet"))[0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(0, table.num_rows - 1).replace_schema_metadata(table.schema.metadata), shard)
    record = table.column("record_id")[0].as_py()
    [hop, *_] = row_lineage(judged, record)
    assert hop.problems and "changed since it was written" in hop.problems[0] and not hop.parents
