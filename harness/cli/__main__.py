"""`python -m harness.cli`: the same app as the `harness` command (engines that spawn workers, vLLM, need a
`__main__` guard, which the `harness` script has by itself)."""

from harness.cli import app

if __name__ == "__main__":
    app()
