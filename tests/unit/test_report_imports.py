"""`harness report` loads only what it uses: counting lengths in the model's tokens reads the tokenizer file with
`tokenizers`, without importing transformers (and with it torch), which took most of a small report's time."""

from __future__ import annotations

import json
import subprocess
import sys

from tokenizers import Tokenizer, models, pre_tokenizers

from tests.unit.judged_samples import star_artifact

SCRIPT = """
import sys
from harness.config import ReportConfig
from harness.stages.report import run_report
run_report(ReportConfig(dirs=[sys.argv[1]], output=sys.argv[2]))
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
"""


def test_a_report_counts_tokens_without_importing_torch_or_transformers(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    vocab = {"[UNK]": 0, "Divide": 1, "by": 2, "one.": 3}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(model / "tokenizer.json"))
    (model / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    star_artifact(tmp_path / "star", model={"requested": "tiny", "path": str(model), "fingerprint": "x"})

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "star"), str(tmp_path / "report")],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    assert json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"')) == []
    lengths = (tmp_path / "report" / "report.md").read_text().split("## Trace and answer lengths")[1]
    assert "rationale (tokens)" in lengths  # counted with the model's tokenizer, not in words
