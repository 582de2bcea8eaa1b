"""`harness report` on real synth and eval artifacts (and a judged one made to the contract), read as a person
would: the HTML page rendered by headless Chromium, screenshotted, and checked for its tables and images."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.reporting.conftest import RealArtifacts, run_harness

pytestmark = pytest.mark.slow

SECTIONS = ["mmlu", "validator-pass-rates", "trace-and-answer-lengths", "judge-scores", "token-usage-and-throughput", "lineage"]  # fmt: skip
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--hide-scrollbars",
]
# What the page itself reports once loaded: every image decoded, and what each section holds.
PAGE_CHECK = """<script>
window.addEventListener("load", () => {
  const images = [...document.images];
  const result = {
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    external: images.filter(i => !i.src.startsWith("data:image/png;base64,")).map(i => i.src),
    sections: [...document.querySelectorAll("section")].map(s => ({
      id: s.id, title: s.querySelector("h2").innerText, tables: s.querySelectorAll("table tbody tr").length,
      images: s.querySelectorAll("img").length, absent: !!s.querySelector("p.absent"),
      height: s.getBoundingClientRect().height,
    })),
  };
  const out = document.createElement("pre");
  out.id = "page-check";
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
});
</script>"""


@pytest.fixture(scope="module")
def full_report(real_artifacts: RealArtifacts, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("report") / "report"
    a = real_artifacts
    result = run_harness("report", str(a.synth), str(a.eval), str(a.judged), "--output", str(out), env=a.env)
    return out, result


def test_report_has_every_section_from_real_artifacts(full_report, real_artifacts):
    out, result = full_report
    assert result.stdout.strip() == str(out)
    assert "no data for" not in result.stderr and "rows/s" in result.stderr
    md = (out / "report.md").read_text()
    for title in ["## MMLU", "## Validator pass rates", "## Trace and answer lengths", "## Judge scores", "## Token usage and throughput", "## Lineage"]:  # fmt: skip
        assert title in md
    assert "_No " not in md  # no section says its data is absent
    # MMLU: the card's grouping, one subject per level, with stderr
    for row in ["| **College** |", "| college_mathematics |", "| **Professional** |", "| **High School** |", "| **Overall** | **8** |"]:  # fmt: skip
        assert row in md
    assert re.search(r"\| high_school_psychology \| 2 \| \d+\.\d ± \d+\.\d \|", md)
    # validators: backfill's rules, counted over the 4 rows
    assert re.search(r"\| #1 synth \| markers \| 4 \| \d \| \d+\.\d%", md)
    assert "| **#1 synth** | **valid (every rule)** | **4** |" in md
    # usage: the priced synth run's cost (the eval and judged rows, unpriced, show a dash)
    assert re.search(r"\| #1 synth \| synth backfill \|.* \| \d\.\d+ USD \(\d+ \+ \d+ tokens\) \|", md)
    # lengths in the default model's tokens (its folder is on this machine); judge scores and agreement
    assert "| #1 synth | trace | trace (tokens) |" in md and "completion_tokens (engine tokens)" in md
    assert "| #3 judged | pairwise | pairwise | 4 | 4 | 0 | 0 | 1 | 75.0% | 8 |" in md
    assert "| #3 judged | math | verifier | 4 | 3 | 1 | 1 |" in md
    # lineage: the judged artifact was made from #1, whose input is the bundled sample with its hash
    assert f"{real_artifacts.synth} = #1 synth" in md and "backfill_sample.jsonl (sha256 " in md
    plots = sorted(p.name for p in (out / "plots").glob("*.png"))
    assert plots == ["a1-lengths.png", "a1-validators.png", "a2-mmlu.png", "a3-judge-math.png", "a3-judge-pairwise.png", "a3-lengths.png", "a3-validators.png"]  # fmt: skip
    assert all(f"](plots/{name})" in md for name in plots)
    assert all((out / "plots" / name).read_bytes().startswith(b"\x89PNG") for name in plots)


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0 and not os.environ.get("CI"):
        pytest.skip("chromium is not installed and this user cannot install it (scripts/setup.sh test does, as root)")
    pytest.fail("chromium is missing: `bash scripts/setup.sh test` installs it (apt-get install chromium)")


def _browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    command = [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def test_html_page_renders_in_chromium_with_all_tables_and_images(full_report, tmp_path):
    out, _ = full_report
    page = out / "report.html"
    checked = tmp_path / "checked.html"
    checked.write_text(page.read_text().replace("</body>", PAGE_CHECK + "</body>"))
    dom = _browse(checked, tmp_path, "--dump-dom", "--virtual-time-budget=10000").stdout
    found = re.search(r'<pre id="page-check">(.*?)</pre>', dom, re.S)
    assert found, "the page's check did not run"
    check = json.loads(html.unescape(found[1]))
    assert check["images"] == 7 and check["broken"] == [] and check["external"] == []
    sections = {s["id"]: s for s in check["sections"]}
    assert list(sections) == SECTIONS
    for section in sections.values():
        assert not section["absent"] and section["height"] > 50, section
        assert section["tables"] > 0, section
    assert sections["mmlu"]["images"] == 1 and sections["judge-scores"]["images"] == 2

    shot = tmp_path / "report.png"
    _browse(page, tmp_path, f"--screenshot={shot}", "--window-size=1200,6000")
    _assert_looks_like_the_report(shot)
    kept = os.environ.get("HARNESS_KEEP_SCREENSHOT")  # set it to look at the page yourself
    if kept:
        shutil.copy(shot, kept)


def _assert_looks_like_the_report(png: Path) -> None:
    """The screenshot shows text and the plots: each plot's colour covers a real area of the page."""
    from PIL import Image

    image = Image.open(png).convert("RGB")
    assert image.size == (1200, 6000)
    colours = image.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 200  # a blank or error page has a handful
    counts = {rgb: n for n, rgb in colours}
    for name, rgb in {"validators": (76, 114, 176), "lengths": (85, 168, 104), "judge": (129, 114, 178), "mmlu": (221, 132, 82)}.items():  # fmt: skip
        assert counts.get(rgb, 0) > 500, f"the {name} plot's bars are not on the page"


def test_missing_data_is_said_not_failed(real_artifacts, tmp_path):
    out = tmp_path / "report"
    result = run_harness("report", str(real_artifacts.synth), "--output", str(out), env=real_artifacts.env)
    assert "no data for: MMLU, Judge scores" in result.stderr
    md = (out / "report.md").read_text()
    assert "_No eval artifact among the inputs" in md and "_No judge artifact among the inputs" in md
    assert "## Validator pass rates" in md and "a1-validators.png" in md


def test_bad_inputs_are_one_clear_line(real_artifacts, tmp_path):
    plain = tmp_path / "not-an-artifact"
    plain.mkdir()
    result = run_harness("report", str(plain), "--output", str(tmp_path / "r"), env=real_artifacts.env, check=False)
    assert result.returncode == 2 and "not a harness artifact" in result.stderr and str(plain) in result.stderr
    inside = run_harness("report", str(real_artifacts.synth), "-o", str(real_artifacts.synth), env=real_artifacts.env, check=False)  # fmt: skip
    assert inside.returncode == 2 and "is inside the artifact folder" in inside.stderr
    assert "Traceback" not in result.stderr + inside.stderr


def test_report_on_a_real_judge_run_whose_answers_are_all_missing(real_artifacts, tmp_path):
    """The real judge stage's output (not the contract fixture), on star samples cut off before any `### Answer:`:
    the answer column is all null, which must give no length row for it and no crash."""
    env = real_artifacts.env
    star, judged = tmp_path / "star", tmp_path / "judged"
    run_harness("synth", "--task", "star", "--input", "sample", "--limit", "2", "--n", "2", "--max-tokens", "8", "--output", str(star), env=env)  # fmt: skip
    run_harness("judge", "--input", str(star), "--output", str(judged), "--judge", "exact,format", env=env)
    out = tmp_path / "report"
    result = run_harness("report", str(star), str(judged), "--output", str(out), env=env)
    assert "Traceback" not in result.stderr
    text = (out / "report.md").read_text()
    judges = text.split("## Judge scores")[1].split("\n## ")[0]
    assert "| #2 judged | exact | verifier | 4 |" in judges and "| #2 judged | format | verifier | 4 |" in judges
    lengths = text.split("## Trace and answer lengths")[1].split("\n## ")[0]
    assert "| completion |" in lengths and "| answer |" not in lengths
