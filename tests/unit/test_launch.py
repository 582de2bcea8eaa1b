"""`harness train --num-processes N` relaunches the same command under accelerate, less its own flags."""

from __future__ import annotations

from harness.scale.launch import launch_command, without_launch_flags


def test_the_launch_flags_are_taken_out_in_both_forms():
    argv = ["train", "sft", "-i", "x", "--num-processes", "2", "--accelerate-config=fsdp.yaml", "--max-steps", "3"]
    assert without_launch_flags(argv) == ["train", "sft", "-i", "x", "--max-steps", "3"]
    assert without_launch_flags(["train", "dpo", "--num-processes=4", "--accelerate-config", "z.yaml"]) == [
        "train",
        "dpo",
    ]


def test_data_parallel_without_a_config_file_and_the_file_decides_with_one():
    plain = launch_command(["train", "sft", "--num-processes", "2"], 2, None)
    assert plain[plain.index("--num_processes") + 1] == "2" and "--multi_gpu" in plain
    assert plain[-4:] == ["-m", "harness.cli", "train", "sft"] and plain[:2] == ["--num_processes", "2"]
    configured = launch_command(["train", "sft"], 8, "ds.yaml")
    assert "--multi_gpu" not in configured and configured[configured.index("--config_file") + 1] == "ds.yaml"
    assert plain[plain.index("--main_process_port") + 1].isdigit()
