"""report.html: one self-contained file (styles inline, charts embedded as base64 PNG), opens offline."""

from __future__ import annotations

import base64
from html import escape

from analysis.document import Block, Bullets, FindingBlock, Heading, Image, Paragraph, Table

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.finding { border-left: 5px solid #999; padding: 0.4em 1em; margin: 0.8em 0; background: #fafafa; }
.finding.high { border-color: #c0392b; } .finding.medium { border-color: #e67e22; }
.finding.low { border-color: #2980b9; }
.severity { font-weight: bold; text-transform: uppercase; margin-right: 0.5em; }
.high .severity { color: #c0392b; } .medium .severity { color: #e67e22; } .low .severity { color: #2980b9; }
details code { font-size: 12px; white-space: pre-wrap; }
figure { margin: 1em 0; } img { max-width: 100%; border: 1px solid #eee; }
"""


def render_html(blocks: list[Block], title: str) -> str:
    body: list[str] = []
    for block in blocks:
        match block:
            case Heading(level, text):
                body.append(f"<h{level}>{escape(text)}</h{level}>")
            case Paragraph(text):
                body.append(f"<p>{escape(text)}</p>")
            case Bullets(items):
                body.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")
            case Table(headers, rows):
                head = "".join(f"<th>{escape(h)}</th>" for h in headers)
                cells = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{cells}</tbody></table>")
            case FindingBlock(severity, heading, message, recommendation, evidence):
                details = "".join(f"<li><code>{escape(line)}</code></li>" for line in evidence)
                body.append(
                    f'<div class="finding {escape(severity)}"><p><span class="severity">{escape(severity)}</span>'
                    f"<strong>{escape(heading)}</strong></p><p>{escape(message)}</p>"
                    f"<p><strong>Recommendation:</strong> {escape(recommendation)}</p>"
                    + (f"<details><summary>Evidence</summary><ul>{details}</ul></details>" if evidence else "")
                    + "</div>"
                )
            case Image(chart):
                data = base64.b64encode(chart.png).decode("ascii")
                body.append(f'<figure><img alt="{escape(chart.title)}" src="data:image/png;base64,{data}">'
                            f"<figcaption>{escape(chart.title)}</figcaption></figure>")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
