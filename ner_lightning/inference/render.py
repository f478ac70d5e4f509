"""Output formats for tagged text: JSON lines, CoNLL columns, a bracketed line, and a self-contained HTML page with
entities highlighted by type and a legend (in the spirit of spaCy's displaCy; no network assets)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence

from ner_lightning.data.tags import spans_to_tags
from ner_lightning.inference.predictor import Entity

# a colour per type, stable across pages: known types first, then a palette by first appearance
PALETTE = ["#7aecec", "#feca74", "#bfeeb7", "#aa9cfc", "#ff9561", "#c887fb", "#9cc9cc", "#e4e7d2", "#ffeb80", "#f0d0ff"]
KNOWN = {"PER": "#aa9cfc", "LOC": "#ff9561", "ORG": "#7aecec", "GPE": "#feca74"}


def colours(types: Sequence[str]) -> dict[str, str]:
    """A background colour per entity type."""
    out: dict[str, str] = {}
    free = [c for c in PALETTE if c not in KNOWN.values()]
    for i, typ in enumerate(dict.fromkeys(types)):
        out[typ] = KNOWN.get(typ) or free[i % len(free)]
    return out


def jsonl_line(text: str, entities: Sequence[Entity]) -> str:
    """``{"text": ..., "entities": [...]}`` on one line."""
    return json.dumps({"text": text, "entities": list(entities)}, ensure_ascii=False)


def conll_block(text: str, entities: Sequence[Entity], scheme: str = "BIO") -> str:
    """One ``char<TAB>tag`` line per character, then a blank line."""
    tags = spans_to_tags([(e["type"], e["start"], e["end"]) for e in entities], len(text), scheme)
    return "".join(f"{c}\t{t}\n" for c, t in zip(text, tags)) + "\n"


def bracketed(text: str, entities: Sequence[Entity]) -> str:
    """``[赵阳]PER在[中科院]ORG工作``: the tagged line of the interactive prompt."""
    out, pos = [], 0
    for e in entities:
        out += [text[pos : e["start"]], f"[{e['text']}]{e['type']}"]
        pos = e["end"]
    return "".join([*out, text[pos:]])


def marks_html(text: str, entities: Sequence[Entity], palette: dict[str, str]) -> str:
    """The text as HTML with a ``<mark>`` per entity (type label inside)."""
    parts, pos = [], 0
    for e in entities:
        parts.append(html.escape(text[pos : e["start"]]))
        colour = palette.get(e["type"], "#ddd")
        parts.append(
            f'<mark class="entity" data-type="{html.escape(e["type"])}" style="background:{colour}">'
            f'{html.escape(e["text"])}<span class="label">{html.escape(e["type"])}</span></mark>'
        )
        pos = e["end"]
    parts.append(html.escape(text[pos:]))
    return "".join(parts)


STYLE = """
body{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:2em;line-height:2.4;color:#222}
.doc{border-bottom:1px solid #eee;padding:.4em 0;white-space:pre-wrap}
mark.entity{padding:.2em .35em;margin:0 .15em;border-radius:.35em;line-height:1}
mark.entity .label{font-size:.6em;font-weight:bold;text-transform:uppercase;margin-left:.4em;vertical-align:middle}
.legend span{display:inline-block;padding:.1em .6em;margin-right:.5em;border-radius:.3em;font-size:.8em}
"""


def legend_html(palette: dict[str, str]) -> str:
    """A line with one coloured label per type."""
    items = "".join(f'<span style="background:{c}">{html.escape(t)}</span>' for t, c in palette.items())
    return f'<div class="legend">{items}</div>'


def html_page(
    docs: Sequence[tuple[str, Sequence[Entity]]], title: str = "ner_lightning", types: Sequence[str] = ()
) -> str:
    """A self-contained page (inline CSS, no scripts or network assets) highlighting every document's entities."""
    palette = colours([*types, *(e["type"] for _, ents in docs for e in ents)])
    body = "".join(f'<div class="doc">{marks_html(text, ents, palette)}</div>' for text, ents in docs)
    return (
        f'<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{legend_html(palette)}{body}</body></html>"
    )
