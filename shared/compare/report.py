"""report.md and a self-contained report.html (figures embedded as base64) from results.json's content."""
from __future__ import annotations

import base64
import html
from pathlib import Path

from shared.atomic import write_text
from shared.compare.table import row_label, table_cells

DEFINITIONS = [
    "test accuracy and macro-F1 (F1 averaged over classes with equal weight) on the held-out test split, "
    "with the weights of the best validation epoch",
    "train time: wall-clock time of the whole training call (training and the validation pass of every epoch); "
    "train img/s = training images × epochs / train time",
    "latency: median of repeated forward passes after a warm-up, per image, at batch 1 and batch 64 "
    "(random input of the model's shape; torch eager under inference_mode, Keras inside a tf.function)",
    "size on disk: the saved checkpoint (torch state_dict, or the .keras file)",
]


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _others(results: dict) -> list[str]:
    return [f"{row_label(row)}: **{row['status']}**: {row['reason']}" for row in results["rows"] if row["status"] != "ok"]


def _environment(results: dict) -> str:
    env = results["environment"]
    packages = ", ".join(f"{name} {version}" for name, version in env["packages"].items())
    return (f"{env['cpu']} ({env['cpu_count']} cores, torch threads {env['torch_threads']}), GPU: {env['gpu'] or 'none'}, "
            f"load average {env.get('load_average_1min')}; Python {env['python']}; {packages}; seed {env['seed']}")


def _title(results: dict) -> str:
    data = results["dataset"]
    return (f"Model comparison on {data['name']} ({data['num_train']}/{data['num_val']}/{data['num_test']} "
            f"train/val/test images, {data['num_classes']} classes, {_plural(results['config']['epochs'], 'epoch')})")


def _figure_groups(results: dict) -> list[list[tuple[str, str]]]:
    """Figures in groups shown side by side in the HTML: the run's figures, then one group per model."""
    titles = {"curves": "Training curves", "per_class": "Per-class test accuracy",
              "data_efficiency": "Data efficiency: from scratch vs transfer"}
    groups = [[(titles.get(name, name), path)] for name, path in results["figures"].items()]
    for row in results["rows"]:
        if row["status"] == "ok":
            groups.append([(f"{row_label(row)}: confusion matrix", row["figures"]["confusion"]),
                           (f"{row_label(row)}: test predictions", row["figures"]["predictions"])])
    return groups


def _figure_list(results: dict) -> list[tuple[str, str]]:
    return [figure for group in _figure_groups(results) for figure in group]


def _diagnosis(row: dict) -> tuple[str, str]:
    """(verdict, message), the verdict left out of the message when the message already starts with it."""
    verdict, message = row["diagnosis"]["verdict"], row["diagnosis"]["message"]
    return ("" if message.lower().startswith(verdict.lower()) else f"{verdict}: "), message


def markdown(results: dict) -> str:
    measured = [row for row in results["rows"] if row["status"] == "ok"]
    headers, body = table_cells(measured)
    lines = [f"# {_title(results)}", "", f"Created {results['created']}.", "", "## Fair by construction", "",
             results["fairness"], "", "## Results", "", "| " + " | ".join(headers) + " |",
             "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(f"**{text}** ★" if best else text for text, best in cells) + " |" for cells in body]
    lines += ["", "★ best value in its column."] + [f"- {line}" for line in _others(results) + results.get("notes", [])]
    lines += ["", "## Diagnosis", ""] + [f"- **{row_label(row)}**: {''.join(_diagnosis(row))}" for row in measured]
    lines += ["", "## Figures", ""] + [f"### {title}\n\n![{title}]({path})\n" for title, path in _figure_list(results)]
    lines += ["## How each number is measured", ""] + [f"- {item}" for item in DEFINITIONS]
    lines += ["", "## Environment", "", _environment(results), ""]
    return "\n".join(lines)


STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:14px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td:nth-child(-n+3){text-align:left}td.best{background:#e3f6e3;font-weight:bold}
.skipped{color:#8a5a00}.failed{color:#b00020}img{max-width:100%;border:1px solid #eee}
.group{display:flex;gap:1em;align-items:flex-start}.group figure{flex:1 1 0;min-width:0}.group figure+figure{flex-grow:1.6}figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}.env{font-size:13px;color:#555}"""


def _image(out_dir: Path, path: str) -> str:
    data = base64.b64encode((out_dir / path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path)}" src="data:image/png;base64,{data}">'


def _html_table(results: dict) -> str:
    headers, body = table_cells([row for row in results["rows"] if row["status"] == "ok"])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f'<td class="best">{html.escape(t)} ★</td>' if best else f"<td>{html.escape(t)}</td>"
                                    for t, best in cells) + "</tr>" for cells in body)
    return f"<table><tr>{head}</tr>{rows}</table><p>★ best value in its column.</p>"


def _html_others(results: dict) -> str:
    items = [f'<li class="{row["status"]}">{html.escape(row_label(row))}: <b>{row["status"]}</b>: '
             f'{html.escape(row["reason"])}</li>' for row in results["rows"] if row["status"] != "ok"]
    items += [f"<li>{html.escape(note)}</li>" for note in results.get("notes", [])]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def html_report(results: dict, out_dir: Path) -> str:
    measured = [row for row in results["rows"] if row["status"] == "ok"]
    diagnosis = "".join(f"<li><b>{html.escape(row_label(r))}</b>: {html.escape(''.join(_diagnosis(r)))}</li>"
                        for r in measured)
    figures = "".join("<div class='group'>" + "".join(
        f"<figure><figcaption>{html.escape(title)}</figcaption>{_image(out_dir, path)}</figure>"
        for title, path in group) + "</div>" for group in _figure_groups(results))
    definitions = "".join(f"<li>{html.escape(item)}</li>" for item in DEFINITIONS)
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(_title(results))}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(_title(results))}</h1>"
            f"<p>Created {html.escape(results['created'])}.</p><h2>Fair by construction</h2>"
            f"<p>{html.escape(results['fairness'])}</p><h2>Results</h2>{_html_table(results)}{_html_others(results)}"
            f"<h2>Diagnosis</h2><ul>{diagnosis}</ul><h2>Figures</h2>{figures}"
            f"<h2>How each number is measured</h2><ul>{definitions}</ul>"
            f"<h2>Environment</h2><p class='env'>{html.escape(_environment(results))}</p></body></html>\n")


def write_reports(results: dict, out_dir: Path) -> tuple[Path, Path]:
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text(md_path, markdown(results))
    write_text(html_path, html_report(results, out_dir))
    return md_path, html_path
