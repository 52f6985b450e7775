"""report.md: the document as Markdown, charts linked as the PNG files written beside it."""

from __future__ import annotations

from analysis.document import Block, Bullets, Facts, FindingBlock, Heading, Image, Paragraph, Table, Verdict

SEVERITY_LABELS = {"high": "HIGH", "medium": "MEDIUM", "low": "LOW"}
VERDICT_MARKS = {"pass": "✅ ", "fail": "❌ ", "unknown": "❔ "}  # none (no thresholds): no mark


def render_markdown(blocks: list[Block]) -> str:
    parts: list[str] = []
    for block in blocks:
        match block:
            case Heading(level, text):
                parts.append(f"{'#' * level} {text}")
            case Paragraph(text):
                parts.append(text)
            case Bullets(items):
                parts.append("\n".join(f"- {item}" for item in items))
            case Table(headers, rows):
                parts.append(_table(headers, rows))
            case FindingBlock(severity, title, message, recommendation, evidence):
                lines = [f"### [{SEVERITY_LABELS.get(severity, severity)}] {title}", "", message, "",
                         f"**Recommendation:** {recommendation}"]
                if evidence:
                    lines += ["", "<details><summary>Evidence</summary>", "",
                              *(f"- `{_cell(line)}`" for line in evidence), "", "</details>"]
                parts.append("\n".join(lines))
            case Image(chart):
                parts.append(f"![{chart.title}]({chart.file})")
            case Verdict(status, text):
                parts.append(f"**{VERDICT_MARKS.get(status, '')}Verdict: {text}**")
            case Facts(items):
                parts.append("\n".join(f"- **{label}:** {text}" for label, text in items))
    return "\n\n".join(parts) + "\n"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("`", "'").replace("\n", " ")
