"""The lm-eval task configs we generate load in lm-eval (no model) and build exactly lm-eval's MMLU prompts."""

from __future__ import annotations

from pathlib import Path

import lm_eval
import pytest
import yaml
from lm_eval.tasks import TaskManager

from harness.engines.base import SamplingParams
from harness.evalsets import lm_eval_adapter as lm
from harness.evalsets.mmlu import draw, load_mmlu
from tasks import structured_mc

LM_EVAL_MMLU = Path(lm_eval.__file__).parent / "tasks" / "mmlu"


@pytest.fixture(scope="module")
def drawn():
    data = load_mmlu()
    return {s: draw(data.by_subject[s], 3, seed=0) for s in ("college_mathematics", "high_school_psychology")}


def load(folder: Path, names: dict[str, str]):
    manager = TaskManager(include_path=str(folder), include_defaults=False)
    assert sorted(manager.all_tasks) == sorted(names.values())  # lm-eval's own task YAMLs were never indexed
    return manager.load(list(names.values()))["tasks"]


def stock_template(name: str) -> dict:
    return yaml.safe_load((LM_EVAL_MMLU / name).read_text())


def test_loglikelihood_configs_load_and_use_lm_evals_mmlu_prompt(tmp_path, drawn):
    names = lm.write_tasks(tmp_path, lm.TaskSpec("loglikelihood"), drawn)
    assert names == {s: f"harness_mmlu_{s}" for s in drawn}
    stock = stock_template("default/_default_template_yaml")
    assert stock["doc_to_text"] == lm.MC_TEXT and list(lm.LETTERS) == stock["doc_to_choice"]
    tasks = load(tmp_path, names)
    task = tasks["harness_mmlu_college_mathematics"]
    docs = list(task.test_docs())
    assert [d["id"] for d in docs] == [q.id for q in drawn["college_mathematics"]]
    assert task.config.fewshot_split is None and not task.has_training_docs()
    question = drawn["college_mathematics"][0]
    assert task.doc_to_text(docs[0]) == (
        f"{question.question.strip()}\nA. {question.choices[0]}\nB. {question.choices[1]}\n"
        f"C. {question.choices[2]}\nD. {question.choices[3]}\nAnswer:"
    )
    assert task.doc_to_choice(docs[0]) == ["A", "B", "C", "D"] and task.doc_to_target(docs[0]) == question.answer
    assert task.config.description == "The following are multiple choice questions (with answers) about college mathematics.\n\n"  # fmt: skip


def test_cloze_configs_use_lm_evals_continuation_prompt(tmp_path, drawn):
    names = lm.write_tasks(tmp_path, lm.TaskSpec("cloze"), drawn)
    assert stock_template("continuation/_continuation_template_yaml")["doc_to_text"] == lm.CLOZE_TEXT
    task = load(tmp_path, names)[names["high_school_psychology"]]
    doc = next(iter(task.test_docs()))
    question = drawn["high_school_psychology"][0]
    assert task.doc_to_text(doc) == f"Question: {question.question.strip()}\nAnswer:"
    assert task.doc_to_choice(doc) == list(question.choices)
    assert {m["metric"] for m in task.config.metric_list} == {"acc", "acc_norm"}


def test_generative_configs_carry_the_prompt_sampling_and_parser(tmp_path, drawn):
    kwargs = lm.generation_kwargs(SamplingParams(temperature=0.8, top_p=0.95, max_tokens=64))
    assert kwargs == {"max_gen_toks": 64, "do_sample": True, "temperature": 0.8, "top_p": 0.95, "until": []}
    names = lm.write_tasks(tmp_path, lm.TaskSpec("generative", structured_mc, kwargs), drawn)
    task = load(tmp_path, names)[names["college_mathematics"]]
    doc = next(iter(task.test_docs()))
    question = drawn["college_mathematics"][0]
    assert task.doc_to_text(doc).startswith("Examine the following question")
    assert task.doc_to_text(doc).endswith(f"Provided options: {list(question.choices)}\n")  # the card's user turn
    assert task.config.generation_kwargs["until"] == [] and task.config.generation_kwargs["max_gen_toks"] == 64
    right = f"<output>{question.answer + 1}</output>"
    assert task.process_results(doc, [right]) == {"acc": 1.0, "format_valid": 0.0}
    assert task.process_results(doc, ["no idea"])["acc"] == 0.0


def test_greedy_generation_and_no_fanout():
    assert lm.generation_kwargs(SamplingParams(temperature=0, max_tokens=8, stop=("\n\n",))) == {
        "max_gen_toks": 8,
        "do_sample": False,
        "until": ["\n\n"],
    }
    with pytest.raises(ValueError, match="n must be 1"):
        lm.generation_kwargs(SamplingParams(n=2))


def test_engines_map_to_lm_eval_models_or_say_what_to_install(monkeypatch):
    assert lm.lm_eval_model("transformers", "loglikelihood") == "hf"
    assert lm.lm_eval_model("transformers", "generative") == "hf"
    monkeypatch.setattr(lm.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(lm.EngineUnavailable, match="engine 'vllm' is not installed"):
        lm.lm_eval_model("vllm", "loglikelihood")
    with pytest.raises(lm.EngineUnavailable, match=r"lm-eval\[api\]"):
        lm.lm_eval_model("openai", "generative")
    with pytest.raises(ValueError, match="unknown engine 'llamacpp'"):
        lm.lm_eval_model("llamacpp", "cloze")


def test_lm_eval_command_reproduces_the_run(tmp_path):
    command = lm.lm_eval_command("hf", {"pretrained": "/m"}, tmp_path, ["a", "b"], 8, "cpu", 3)
    assert command[:6] == ["lm_eval", "run", "--model", "hf", "--model_args", "pretrained=/m"]
    assert ["--include_path", str(tmp_path), "--tasks", "a,b"] == command[6:10]
    assert "--apply_chat_template" not in command
    chat = lm.lm_eval_command("hf", {"pretrained": "/m"}, tmp_path, ["a"], 1, None, 0, "be brief")
    assert chat[-3:] == ["--apply_chat_template", "--system_instruction", "be brief"]
