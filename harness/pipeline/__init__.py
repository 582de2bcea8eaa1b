"""`harness run PIPELINE`: a lifecycle file of named stages and rounds, run in order through the stages' own
entry points (`harness.stages.registry.run_stage`), so each stage streams, scales and resumes as its command does.

spec.py: the file's model and its plan (every stage's resolved settings and output folder); state.py: the run's
record (`OUTPUT/pipeline.json`) and the fingerprints that tell a finished stage from a changed one; runner.py:
runs the plan; shipped/: the pipelines `harness run --list` names (the demo and the five cards).
"""
