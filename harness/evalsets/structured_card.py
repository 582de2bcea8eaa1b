"""The Qwen2.5 GRPO structured-reasoning card's MMLU selection as data: its 12 subjects under its three headings,
with its own names and accuracies, and 100 random questions each (`harness eval mmlu --preset structured-card`).

Data only, so the eval config can expand the preset and reports/mmlu_card.py can draw the card's table.
"""

from __future__ import annotations

PRESET = "structured-card"
LIMIT = 100  # "We selected random 100 samples from each subsets of MMLU dataset."
INTRO = (
    "We selected random 100 samples from each subsets of MMLU dataset. Performance across a range of MMLU "
    "subject categories:"
)
# (heading, [(subject, the card's name, the card's accuracy in %)]), in the card's order.
CARD_TABLE: tuple[tuple[str, tuple[tuple[str, str, int], ...]], ...] = (
    (
        "### 🎓 College Courses",
        (
            ("college_mathematics", "College Mathematics", 50),
            ("college_computer_science", "College Computer Science", 57),
            ("college_medicine", "Medicine", 67),
        ),
    ),
    ("### 🧑💼 Professional", (("professional_psychology", "Professional Psychology", 63),)),
    (
        "### 🏫 High School Courses",
        (
            ("high_school_psychology", "Psychology", 83),
            ("high_school_computer_science", "Computer Science", 78),
            ("management", "Management", 70),
            ("high_school_mathematics", "Mathematics", 68),
            ("high_school_statistics", "Statistics", 66),
            ("high_school_biology", "Biology", 67),
            ("high_school_chemistry", "Chemistry", 62),
            ("high_school_european_history", "European History", 64),
        ),
    ),
)
SUBJECTS = [subject for _, rows in CARD_TABLE for subject, _, _ in rows]
