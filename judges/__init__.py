"""Judges: deterministic verifiers (multiple choice, math-verify, exact and regex answers, reasoning-gym's own
scoring, a task's format checks), the LLM judges (a rubric score, pairwise preferences, a listwise ranking run as a
knock-out tournament) with their prompts, reply parsing and calibration counts, the `structured` task's format
validators, training-data selection (best-of-n, unique (correct, incorrect) pairs), and the verifiers and validators as TRL reward
functions, `fn(completions, **columns) -> list[float | None]`. `registry.py` names the judges that
`harness judge --judge NAME` knows."""
