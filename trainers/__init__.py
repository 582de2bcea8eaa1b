"""trainers: see ../shared/DESIGN.md; filled by later issues."""
