"""A two-domain StereoSet file in the tiny tokenizer's vocabulary, for planting and recovery tests."""

from __future__ import annotations

import json
from pathlib import Path

NOUNS = ("neighbor", "family", "people", "nurse", "engineer", "doctor", "secretary", "mechanic")
TEMPLATES = {
    "gender": ("the {n} said that {g} was {a} .", "a {n} said {g} is {a} .",
               "the {n} of the city said that {g} was {a} .",
               "the {n} at work said {g} is {a} .", "in paris the {n} said that {g} was {a} .",
               "the {n} at home said {g} was {a} ."),
    "race": ("the {g} {n} was {a} .", "a {g} {n} is {a} .", "the {g} {n} of the city was {a} .",
             "the {g} {n} at work is {a} .", "in paris the {g} {n} was {a} .", "the {g} {n} at home was {a} ."),
}
GROUPS = {"gender": ("she", "he"), "race": ("black", "white")}
ATTRIBUTES = {"gender": (("poor", "rich"), ("loud", "angry")), "race": (("lazy", "rich"), ("poor", "angry"))}


def two_domain_pairs(folder: Path) -> str:
    """A StereoSet file in the tiny vocabulary: each context names a group (she/he, black/white); the first
    group's stereotype is the first attribute of each couple. Targets carry the template and noun, so both
    groups fall in the same half of the dev/test split."""
    lines = []
    for domain, templates in TEMPLATES.items():
        for i, template in enumerate(templates):
            for noun in NOUNS:
                for group in GROUPS[domain]:
                    for one, two in ATTRIBUTES[domain]:
                        stereo, anti = (one, two) if group == GROUPS[domain][0] else (two, one)
                        lines.append(json.dumps({
                            "type": "intrasentence", "target": f"{domain} {i} {noun}", "bias_type": domain,
                            "context": template.format(n=noun, g=group, a="BLANK"),
                            "stereotype": template.format(n=noun, g=group, a=stereo),
                            "anti-stereotype": template.format(n=noun, g=group, a=anti),
                            "unrelated": template.format(n=noun, g=group, a="paris")}))
    path = folder / "stereoset.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return f"stereoset:{path}"
