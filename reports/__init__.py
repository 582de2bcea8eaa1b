"""Reports from artifacts: one streaming pass per artifact (`collect.py`) into the sections, tables and PNG plots of
`harness report`, rendered as Markdown and a self-contained HTML page; the MMLU tables (the seed card's layout and
the structured card's), the loop and data-check sections, `harness lineage`'s text, and the dataset and model cards
that `harness push` writes."""
