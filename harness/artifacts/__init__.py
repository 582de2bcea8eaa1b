"""Artifacts: the Parquet writer and its resume rules (writer), the reader, row schemas, input sources, groups."""
