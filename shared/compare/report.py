"""report.md and a self-contained report.html (figures embedded as base64) from results.json's content.

The report is a list of sections (`SECTIONS`), each a function `(results, out_dir) -> Section | None` giving its title
and its body twice, as Markdown and as HTML. A new section (TensorBoard logs, an interpretation of the models,
...) is one more function in that list; `write_reports` needs no change.
"""
from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from shared.atomic import write_text
from shared.compare.interpretation import next_steps, pair_text
from shared.compare.table import LEGEND, row_label, table_cells

DEFINITIONS = [
    "test accuracy and macro-F1 (F1 averaged over classes with equal weight) on the held-out test split, "
    "with the weights of the best validation epoch; with several training seeds, their mean ± standard deviation "
    "(figures, checkpoint and latency come from the first seed's model)",
    "accuracy is averaged over images, never over batches (a smaller last batch counts for what it holds)",
    "epochs are counted from 1 in the report, in results.json's rows and in each checkpoint's manifest; only the "
    "training history itself keeps its 0-based best_epoch index (the history format of AUTHORING.md)",
    "train time: wall-clock time of the whole training call (training and the validation pass of every epoch); "
    "train CPU: the process's CPU time in that call (user + system, all threads), steadier than wall time on a "
    "shared machine; train img/s = training images × epochs / train time",
    "latency: median of repeated forward passes after a warm-up, per image, on random input of the model's shape; "
    "b=1 and b=64 in each framework's usual inference path (PyTorch eager under inference_mode; Keras a compiled "
    "tf.function, what model.predict runs), then both eager at batch 64 (like with like)",
    "size on disk: the saved checkpoint (torch state_dict, or the .keras file)",
]


@dataclass
class Section:
    title: str
    markdown: str
    html: str


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _measured(results: dict) -> list[dict]:
    return [row for row in results["rows"] if row["status"] == "ok"]


def _title(results: dict) -> str:
    data = results["dataset"]
    seeds = results["config"].get("seeds", [results["config"].get("seed", 0)])
    return (f"Model comparison on {data['name']} ({data['num_train']:,}/{data['num_val']:,}/{data['num_test']:,} "
            f"train/val/test images, {data['num_classes']} classes, {_plural(len(seeds), 'training seed')})")


def _items(lines: list[str]) -> tuple[str, str]:
    """A list as Markdown bullets and as an HTML <ul>."""
    if not lines:
        return "", ""
    return ("\n".join(f"- {line}" for line in lines),
            "<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul>")


def _paragraph(text: str) -> tuple[str, str]:
    return text, f"<p>{html.escape(text)}</p>"


# ---- the sections ------------------------------------------------------------------------------------------------

def verdict_section(results: dict, out_dir: Path) -> Section | None:
    markdown, page = _items(results.get("verdict", []))
    return Section("In short", markdown, page) if markdown else None


def table_section(results: dict, out_dir: Path) -> Section:
    headers, body = table_cells(_measured(results))
    markdown = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    markdown += ["| " + " | ".join(f"**{text}** ★" if star else text for text, star in cells) + " |" for cells in body]
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows = "".join("<tr>" + "".join(f'<td class="best">{html.escape(t)} ★</td>' if star else f"<td>{html.escape(t)}</td>"
                                    for t, star in cells) + "</tr>" for cells in body)
    others = [f"{row_label(row)}: {row['status']}: {row['reason']}" for row in results["rows"] if row["status"] != "ok"]
    notes_md, notes_html = _items(others + results.get("notes", []))
    return Section("Results", "\n".join(markdown) + f"\n\n{LEGEND}\n\n{notes_md}",
                   f"<div class='scroll'><table class='results'><tr>{head}</tr>{rows}</table></div><p class='legend'>"
                   f"{html.escape(LEGEND)}</p>{notes_html}")


def spread_section(results: dict, out_dir: Path) -> Section:
    lines = list(results.get("differences", []))
    sources = sorted({row["spread"]["source"] for row in _measured(results) if row.get("spread")})
    unknown = [row_label(row) for row in _measured(results) if not row.get("spread")]
    text = ("Two rows differ beyond the spread when their accuracies are further apart than the sum of their two "
            "standard deviations over training seeds. " + " ".join(f"Spread from {source}." for source in sources))
    if unknown:
        text += (f" No spread is known for {', '.join(unknown)} (one seed, and none recorded for this data and "
                 f"recipe): run `workbook compare --seeds 0 1 2` to measure it.")
    markdown, page = _items(lines)
    return Section("Differences against the seed spread", f"{text}\n\n{markdown}",
                   f"<p>{html.escape(text)}</p>{page}")


def _recipe_table(recipes: dict) -> tuple[str, str]:
    """The groups' recipes side by side: one column per group of rows, one line per fact they do not all share."""
    groups = recipes["groups"]
    keys = list(dict.fromkeys(key for group in groups for key in group.get("facts", {})))   # any group's facts
    if not keys:
        return _items([f"{' and '.join(g['rows'])}: {g['recipe']}." for g in groups])
    headers = [""] + [" and ".join(group["rows"]) for group in groups]
    lines = [[key.replace("_", " ")] + [str(group["facts"].get(key, "–")) for group in groups] for key in keys]
    markdown = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    markdown += ["| " + " | ".join(cells) + " |" for cells in lines]
    page = ("<div class='scroll'><table class='recipes'><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in headers)
            + "</tr>" + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
                                for cells in lines) + "</table></div>")
    return "\n".join(markdown), page


def recipe_section(results: dict, out_dir: Path) -> Section:
    recipes = results["recipes"]
    common_md, common_html = _paragraph(recipes["common"])
    table_md, table_html = _recipe_table(recipes)
    diff_md, diff_html = _items(recipes["differences"])
    return Section("How each row was trained", "\n\n".join(p for p in (common_md, table_md, diff_md) if p),
                   common_html + table_html + diff_html)


def diagnosis_section(results: dict, out_dir: Path) -> Section:
    lines = [f"{row_label(row)}: {row['diagnosis']['message']}" for row in _measured(results)]
    markdown, page = _items(lines)
    intro = "Week 3's diagnosis of each row's training curves (first seed), epochs counted from 1."
    return Section("Diagnosis", f"{intro}\n\n{markdown}", f"<p>{html.escape(intro)}</p>{page}")


def _run_figures(results: dict) -> list[tuple[str, str]]:
    titles = {"curves": "Training curves (first seed)", "per_class": "Per-class test accuracy",
              "data_efficiency": "Data efficiency: the CNN row's recipe from scratch vs a linear head on frozen "
                                 "pretrained Lite0 features"}
    return [(titles.get(name, name), path) for name, path in results["figures"].items()]


def _row_figures(row: dict) -> list[tuple[str, str]]:
    return [(f"{row_label(row)}: confusion matrix", row["figures"]["confusion"]),
            (f"{row_label(row)}: test predictions", row["figures"]["predictions"])]


def _image(out_dir: Path, path: str) -> str:
    data = base64.b64encode((out_dir / path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(path)}" src="data:image/png;base64,{data}">'


def _figure(out_dir: Path, title: str, path: str) -> str:
    return f"<figure><figcaption>{html.escape(title)}</figcaption>{_image(out_dir, path)}</figure>"


def figures_section(results: dict, out_dir: Path) -> Section:
    """The run's figures in full, then each row's confusion matrix and predictions, folded (one click opens them),
    every image at its own size or the page's width: never shrunk side by side."""
    run = _run_figures(results)
    rows = _measured(results)
    markdown = "\n".join(f"### {title}\n\n![{title}]({path})\n" for title, path in run)
    markdown += "\n".join(f"### {title}\n\n![{title}]({path})\n" for row in rows for title, path in _row_figures(row))
    page = "".join(_figure(out_dir, title, path) for title, path in run)
    page += "".join(f"<details><summary>{html.escape(row_label(row))}: confusion matrix and test predictions</summary>"
                    + "".join(_figure(out_dir, title, path) for title, path in _row_figures(row)) + "</details>"
                    for row in rows)
    return Section("Figures", markdown, page)


def _layer_table(architecture: dict) -> tuple[str, str]:
    """The compact layer table (shared/compare/layers.py) as Markdown and as HTML."""
    headers = ["stage" if architecture["grouped"] else "layer", "type", "output shape", "parameters"]
    cells = [[("&nbsp;&nbsp;" * (line["depth"] - 1)) + f"`{line['name']}`", line["kind"], line["output_shape"],
              f"{line['parameters']:,}"] for line in architecture["layers"]]
    markdown = "\n".join(["| " + " | ".join(headers) + " |", "|---|---|---|---:|",
                          *("| " + " | ".join(row) + " |" for row in cells)])
    page = ("<div class='scroll'><table class='layers'><tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>"
            + "".join(f"<tr><td style='padding-left:{0.5 + 1.2 * (line['depth'] - 1)}em'>{html.escape(line['name'])}"
                      f"</td><td>{html.escape(line['kind'])}</td><td>{html.escape(line['output_shape'])}</td>"
                      f"<td>{line['parameters']:,}</td></tr>" for line in architecture["layers"])
            + "</table></div>")
    return markdown, page


def _architecture_line(architecture: dict) -> str:
    shape = " x ".join(str(v) for v in architecture["input_shape"])
    count, shown = architecture["layer_count"], len(architecture["layers"])
    listed = (f"one line per stage of its {count} layers" if architecture["grouped"]
              else f"all {count} layers" if shown == count else f"{shown} of its {count} layers (to depth 2)")
    return (f"{architecture['model_name']} ({architecture['framework']}), input {shape}: "
            f"{architecture['total_parameters']:,} parameters ({architecture['trainable_parameters']:,} trainable); "
            f"{listed}, every layer in {architecture['all_layers']}")


def _row_interpretation(row: dict, out_dir: Path) -> tuple[str, str]:
    """One row's sentence, confused pairs and top-loss figure, as Markdown and as HTML."""
    found, label = row["interpretation"], row_label(row)
    if "unavailable" in found:
        why = found["unavailable"]
        return f"### {label}\n\n{why}", f"<h3>{html.escape(label)}</h3><p>{html.escape(why)}</p>"
    pairs = [pair_text(pair) for pair in found["confused_pairs"]] or ["no class taken for another"]
    pairs_md, pairs_html = _items(pairs)
    layer, why = found["gradcam"].get("layer"), found["gradcam"].get("unavailable", "")
    heat_md = f"Grad-CAM at layer `{layer}`." if layer else f"{why[:1].upper()}{why[1:]}."
    heat_html = (f"Grad-CAM at layer <code>{html.escape(layer)}</code>." if layer
                 else html.escape(f"{why[:1].upper()}{why[1:]}."))
    mistakes = f"{found['mistakes']} of {found['tested']} test images wrong"
    figure = row["figures"]["top_losses"]
    return (f"### {label}\n\n**Act on it:** {found['action']}\n\nMost confused ({mistakes}):\n\n{pairs_md}\n\n"
            f"![{label}: top losses]({figure})\n\n{heat_md}",
            f"<h3>{html.escape(label)}</h3><p><b>Act on it:</b> {html.escape(found['action'])}</p><p>Most confused "
            f"({html.escape(mistakes)}):</p>{pairs_html}<figure>{_image(out_dir, figure)}<figcaption class='note'>"
            f"{heat_html}</figcaption></figure>")


def interpretation_section(results: dict, out_dir: Path) -> Section | None:
    """Per row: one sentence to act on, its most confused class pairs and its top losses with Grad-CAM."""
    rows = [row for row in _measured(results) if row.get("interpretation")]
    if not rows:
        return None
    intro = ("From each row's first-seed model (the one saved): the test images with the highest loss, its most "
             "confident mistakes, with Grad-CAM's heat on what it looked at for the class it predicted; the class "
             "pairs it confuses most; and one thing to do about it.")
    parts = [_row_interpretation(row, out_dir) for row in rows]
    return Section("What each model gets wrong", "\n\n".join([intro, *(md for md, _ in parts)]),
                   f"<p>{html.escape(intro)}</p>" + "".join(page for _, page in parts))


def architecture_section(results: dict, out_dir: Path) -> Section | None:
    """Per row, folded: the compact layer table and the drawn diagram."""
    rows = [row for row in _measured(results) if row.get("architecture")]
    if not rows:
        return None
    markdown, page = [], []
    for row in rows:
        architecture, label = row["architecture"], row_label(row)
        if "unavailable" in architecture:
            markdown.append(f"- {label}: {architecture['unavailable']}")
            page.append(f"<p>{html.escape(label)}: {html.escape(architecture['unavailable'])}</p>")
            continue
        line = _architecture_line(architecture)
        table_md, table_html = _layer_table(architecture)
        diagram = row["figures"].get("architecture")
        markdown.append(f"<details><summary>{label}: {architecture['total_parameters']:,} parameters</summary>\n\n"
                        f"{line}.\n\n{table_md}\n\n" + (f"![{label}: diagram]({diagram})\n\n" if diagram else "")
                        + "</details>")
        page.append(f"<details><summary>{html.escape(label)}: {architecture['total_parameters']:,} parameters"
                    f"</summary><p>{html.escape(line)}.</p><div class='side'>{table_html}"
                    + (_figure(out_dir, f"{label}: block diagram", diagram) if diagram else "") + "</div></details>")
    intro = "Each row's model, layer by layer, with output shapes (per image) and parameter counts; click to open."
    return Section("Architectures", intro + "\n\n" + "\n\n".join(markdown),
                   f"<p>{html.escape(intro)}</p>" + "".join(page))


def next_section(results: dict, out_dir: Path) -> Section | None:
    lines = next_steps(_measured(results), row_label)
    if not lines:
        return None
    markdown, page = _items(lines)
    return Section("What I would try next", markdown, page)


def tensorboard_section(results: dict, out_dir: Path) -> Section | None:
    rows = [row for row in _measured(results) if row.get("tensorboard")]
    if not rows:
        return None
    command = f"tensorboard --logdir {Path(out_dir) / 'tensorboard'}"
    seeds = ", one folder per training seed" if any(len(row["tensorboard"]) > 1 for row in rows) else ""
    text = ("Every row's loss, accuracy and learning rate per epoch, both frameworks on the same charts "
            f"(epoch_loss, epoch_accuracy, epoch_learning_rate; runs <row>/train and <row>/validation{seeds}). "
            "Open them with")
    markdown, page = _items([f"{row_label(row)}: " + ", ".join(row["tensorboard"]) for row in rows])
    return Section("TensorBoard", f"{text} `{command}`.\n\n{markdown}",
                   f"<p>{html.escape(text)} <code>{html.escape(command)}</code>.</p>{page}")


def definitions_section(results: dict, out_dir: Path) -> Section:
    markdown, page = _items(DEFINITIONS)
    return Section("How each number is measured", markdown, page)


def environment_section(results: dict, out_dir: Path) -> Section:
    env = results["environment"]
    packages = ", ".join(f"{name} {version}" for name, version in env["packages"].items())
    text = (f"{env['cpu']} ({env['cpu_count']} cores, torch threads {env['torch_threads']}), GPU: {env['gpu'] or 'none'}, "
            f"load average {env.get('load_average_1min')}; Python {env['python']}; {packages}; first training seed "
            f"{env['seed']}; created {results['created']}")
    return Section("Environment", text, f"<p class='env'>{html.escape(text)}</p>")


# Each function gives one section (or None to leave it out), in this order.
SECTIONS: list[Callable[[dict, Path], Section | None]] = [
    verdict_section, table_section, spread_section, recipe_section, diagnosis_section, figures_section,
    interpretation_section, architecture_section, next_section, tensorboard_section, definitions_section,
    environment_section]


def sections(results: dict, out_dir: Path) -> list[Section]:
    return [section for make in SECTIONS if (section := make(results, out_dir)) is not None]


def markdown(results: dict, out_dir: Path = Path(".")) -> str:
    parts = [f"# {_title(results)}"]
    for section in sections(results, out_dir):
        parts += [f"## {section.title}", section.markdown]
    return "\n\n".join(parts) + "\n"


STYLE = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222;line-height:1.45}
h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.scroll{overflow-x:auto}table{border-collapse:collapse;font-size:13px}th,td{border:1px solid #ccc;padding:4px 7px;text-align:right}
th{background:#f0f0f0;vertical-align:bottom}table.results td:nth-child(-n+2){text-align:left;white-space:nowrap}
td.best{background:#e3f6e3;font-weight:bold}
.legend{font-size:13px;color:#555}img{max-width:100%;border:1px solid #eee}table.recipes{table-layout:fixed;width:100%}
table.recipes td,table.recipes th{text-align:left;vertical-align:top}table.recipes th:first-child{width:8em}
figure{margin:1em 0}figcaption{font-weight:bold;margin-bottom:.3em}.env{font-size:13px;color:#555}
details{margin:.4em 0}summary{cursor:pointer;font-weight:bold;padding:.3em 0}h3{margin:1.2em 0 .3em}
.note{font-weight:normal;font-size:13px;color:#555}table.layers td:nth-child(-n+2),table.layers th{text-align:left}
.side{display:flex;flex-wrap:wrap;gap:1.5em;align-items:flex-start}.side figure{margin:0}"""


def html_report(results: dict, out_dir: Path) -> str:
    body = "".join(f"<h2>{html.escape(section.title)}</h2>{section.html}" for section in sections(results, out_dir))
    title = html.escape(_title(results))
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title><style>{STYLE}</style></head>"
            f"<body><h1>{title}</h1>{body}</body></html>\n")


def write_reports(results: dict, out_dir: Path) -> tuple[Path, Path]:
    md_path, html_path = out_dir / "report.md", out_dir / "report.html"
    write_text(md_path, markdown(results, out_dir))
    write_text(html_path, html_report(results, out_dir))
    return md_path, html_path
