"""report.html: one self-contained file that opens offline (styles and script inline, nothing fetched).

Charts are inline SVG: hovering a point shows its values (each point carries a <title>), dragging a rectangle zooms
into it and a double click (or the reset button) zooms back out. A dozen lines of plain script, no library.
"""

from __future__ import annotations

from html import escape

from analysis.document import Block, Bullets, Facts, FindingBlock, Heading, Image, Paragraph, Table, Verdict

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
figure { margin: 1em 0; } .chart svg { max-width: 100%; height: auto; border: 1px solid #eee; cursor: crosshair; }
.chart .points circle { fill: transparent; } .chart .points circle:hover { fill: rgba(0, 0, 0, 0.45); }
.chart button { font-size: 12px; margin-left: 1em; }
.verdict { font-size: 1.15em; font-weight: bold; padding: 0.5em 1em; border-radius: 4px; background: #eef; }
.verdict.pass { background: #e3f5e1; color: #1e6b1e; } .verdict.fail { background: #fbe3e1; color: #a12a1e; }
.verdict.unknown { background: #fdf0dc; color: #8a5300; }
table.facts th { background: none; border: none; text-align: right; padding-right: 1em; }
table.facts td { border: none; }
"""

# Drag a rectangle to zoom into it (the SVG's viewBox), double-click or press the button to zoom out.
SCRIPT = """
document.querySelectorAll("figure.chart").forEach(function (fig) {
  var svg = fig.querySelector("svg"), home = svg.getAttribute("viewBox"), start = null, box = null;
  function at(e) { var p = svg.createSVGPoint(); p.x = e.clientX; p.y = e.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse()); }
  function reset() { svg.setAttribute("viewBox", home); }
  svg.addEventListener("mousedown", function (e) { e.preventDefault(); start = at(e);
    box = document.createElementNS("http://www.w3.org/2000/svg", "rect");
    box.setAttribute("fill", "rgba(70,130,180,0.2)"); box.setAttribute("stroke", "steelblue"); svg.appendChild(box); });
  svg.addEventListener("mousemove", function (e) { if (!start) return; var p = at(e);
    box.setAttribute("x", Math.min(p.x, start.x)); box.setAttribute("y", Math.min(p.y, start.y));
    box.setAttribute("width", Math.abs(p.x - start.x)); box.setAttribute("height", Math.abs(p.y - start.y)); });
  svg.addEventListener("mouseup", function (e) { if (!start) return; var p = at(e);
    var w = Math.abs(p.x - start.x), h = Math.abs(p.y - start.y);
    if (w > 5 && h > 5) svg.setAttribute("viewBox", [Math.min(p.x, start.x), Math.min(p.y, start.y), w, h].join(" "));
    box.remove(); start = null; });
  svg.addEventListener("dblclick", reset);
  fig.querySelector("button").addEventListener("click", reset);
});
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
                body.append(f'<figure class="chart">{chart.svg}<figcaption>{escape(chart.title)}'
                            '<button type="button">reset zoom</button></figcaption></figure>')
            case Verdict(status, text):
                body.append(f'<p class="verdict {escape(status)}">Verdict: {escape(text)}</p>')
            case Facts(items):
                rows = "".join(f"<tr><th>{escape(label)}</th><td>{escape(text)}</td></tr>" for label, text in items)
                body.append(f'<table class="facts"><tbody>{rows}</tbody></table>')
    if any(isinstance(block, Image) for block in blocks):
        body.append(f'<p class="hint">Charts: hover a point for its values; drag a rectangle to zoom in, double-click '
                    f"to zoom out.</p><script>{SCRIPT}</script>")
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
