// The demo page's behaviour: choose an image, ask the API, draw the answers. No framework, no build step.
"use strict";

const TOP_K = 5;          // classes shown in the single view (the API's default top_k)
const TOP_K_CARD = 3;     // classes shown on each card of the side-by-side view
const state = {rows: [], image: null, view: "single", request: 0};   // image: {blob, name, label}
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------------------------------------------- the API
async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw new Error("The server cannot be reached. Is `workbook serve` still running?");
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail;
    throw new Error(typeof detail === "string" ? sentence(detail)
                    : `The server answered ${response.status} ${response.statusText}.`);
  }
  return body;
}

function sentence(text) {  // the API's details are lower-case clauses: show them as a sentence
  const trimmed = text.trim();
  const capital = trimmed.charAt(0).toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capital) ? capital : capital + ".";
}

function predict(row, k) {
  const form = new FormData();
  form.append("file", state.image.blob, state.image.name);
  const query = new URLSearchParams({row: row.id, top_k: String(k), gradcam: "true"});
  return api(`/predict?${query}`, {method: "POST", body: form});
}

// ---------------------------------------------------------------------------------------------------- drawing
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function rowTitle(row) {
  const impl = row.impl && row.impl !== "reference" ? ` (${row.impl})` : "";
  return `${row.model} · ${row.framework}${impl}`;
}

function percent(value, digits = 1) {
  return `${(100 * value).toFixed(value >= 0.995 || value < 0.001 ? 0 : digits)}%`;
}

function accuracy(row) {
  return row.test_accuracy == null ? "" : `test accuracy ${percent(row.test_accuracy, 0)}`;
}

function drawBars(list, predictions) {
  const truth = state.image && state.image.label;   // known for the test images
  list.replaceChildren(...predictions.map((p, rank) => {
    const verdict = truth && rank === 0 ? (p.label === truth ? " right" : " wrong") : "";
    const item = element("li", (rank === 0 ? "bar top" : "bar") + verdict);
    if (verdict) item.title = `the image shows a ${truth}: this prediction is${verdict}`;
    const fill = element("span", "fill");
    fill.style.width = `${Math.max(0.5, 100 * p.probability)}%`;
    const track = element("span", "track");
    track.append(fill);
    item.append(element("span", "label", p.label), track, element("span", "value", percent(p.probability)));
    return item;
  }));
}

function caption(result) {
  if (result.gradcam && result.gradcam.empty) {
    return `Grad-CAM for “${result.gradcam.label}” at layer ${result.gradcam.layer}: no region raised its score, ` +
           "so nothing is coloured.";
  }
  if (result.gradcam) {
    return `Grad-CAM for “${result.gradcam.label}” at layer ${result.gradcam.layer}.`;
  }
  return result.gradcam_error ? `No heatmap: ${sentence(result.gradcam_error)}` : "No heatmap for this model.";
}

function cautionLabel(result) {   // a card's short form of result.caution
  const far = result.familiarity && result.familiarity.far;
  const low = result.confidence && result.confidence.low;
  return far ? "unlike its training images" : (low ? "unsure" : "");
}

function showCaution(node, result, short = false) {
  const text = short ? cautionLabel(result) : (result.caution || "");
  node.textContent = text ? (short ? `⚠ ${text}` : text) : "";
  node.title = result.caution || "";
  node.hidden = !text;
}

function showError(id, message) {
  $(id).textContent = message;
  $(id).hidden = !message;
}

// ---------------------------------------------------------------------------------------------------- views
async function runSingle() {
  const row = state.rows.find((r) => r.id === $("row-select").value);
  if (!row || !state.image) return;
  const request = ++state.request;   // an older answer arriving late must not replace a newer one
  showError("error", "");
  $("single-hint").hidden = true;
  $("single-result").classList.add("busy");
  try {
    const result = await predict(row, TOP_K);
    if (request !== state.request) return;
    drawBars($("single-bars"), result.predictions);
    showCaution($("single-caution"), result);
    $("single-heatmap").hidden = !result.gradcam;
    if (result.gradcam) $("single-heatmap").src = result.gradcam.overlay;
    $("single-caption").textContent = caption(result);
    $("single-result").hidden = false;
  } catch (error) {
    if (request !== state.request) return;
    $("single-result").hidden = true;
    showError("error", error.message);
  } finally {
    if (request === state.request) $("single-result").classList.remove("busy");
  }
}

function emptyCard(row) {
  const card = element("article", "card busy");
  card.dataset.row = row.id;
  const header = element("header");
  header.append(element("h3", "", row.model), element("span", `badge ${row.framework}`, row.framework));
  card.append(header, element("p", "muted small", accuracy(row) || " "));
  const image = element("img", "heatmap-small");
  image.alt = `Grad-CAM heatmap of ${rowTitle(row)}`;
  const caution = element("p", "caution small");
  caution.hidden = true;
  card.append(image, element("ol", "bars compact"), caution, element("p", "muted small caption", "Predicting…"));
  return card;
}

async function fillCard(card, row, request) {
  try {
    const result = await predict(row, TOP_K_CARD);
    if (request !== state.request) return;
    drawBars(card.querySelector("ol"), result.predictions);
    showCaution(card.querySelector(".caution"), result, true);
    const image = card.querySelector("img");
    image.hidden = !result.gradcam;
    if (result.gradcam) image.src = result.gradcam.overlay;
    card.querySelector(".caption").textContent = caption(result);
  } catch (error) {
    if (request !== state.request) return;
    card.querySelector("img").hidden = true;
    card.querySelector(".caption").textContent = "";
    card.append(element("p", "error", error.message));
  } finally {
    card.classList.remove("busy");
  }
}

async function runAll() {
  if (!state.image) return;
  const request = ++state.request;
  $("all-hint").hidden = true;
  showError("error-all", "");
  const cards = state.rows.map((row) => [emptyCard(row), row]);
  $("cards").replaceChildren(...cards.map(([card]) => card));
  const results = await Promise.allSettled(cards.map(([card, row]) => fillCard(card, row, request)));
  if (request !== state.request) return results;
  // A bad upload fails the same way on every row: say it once, above the cards.
  const errors = [...$("cards").querySelectorAll(".error")].map((node) => node.textContent);
  if (errors.length === cards.length && new Set(errors).size === 1) {
    $("cards").replaceChildren();
    showError("error-all", errors[0]);
  }
  return results;
}

function run() {
  return state.view === "single" ? runSingle() : runAll();
}

function setView(view) {
  state.view = view;
  $("view-single").hidden = view !== "single";
  $("view-all").hidden = view !== "all";
  $("tab-single").setAttribute("aria-selected", String(view === "single"));
  $("tab-all").setAttribute("aria-selected", String(view === "all"));
  run();
}

// ---------------------------------------------------------------------------------------------------- input
function chooseImage(blob, name, label = null) {
  state.image = {blob, name, label};
  const preview = $("preview");
  if (preview.src) URL.revokeObjectURL(preview.src);
  preview.src = URL.createObjectURL(blob);
  preview.alt = name;
  preview.hidden = false;
  $("drop-text").textContent = label ? `A test image of a ${label} — drop or click to change`
                                     : `${name} — drop or click to change`;
  document.querySelectorAll(".sample").forEach((node) => node.classList.toggle("chosen", node.dataset.name === name));
  run();
}

async function chooseSample(sample) {
  try {
    const response = await fetch(sample.url);
    if (!response.ok) throw new Error(`The test image ${sample.id} could not be loaded (${response.status}).`);
    chooseImage(await response.blob(), `test-${sample.id}.png`, sample.label);
  } catch (error) {
    showError(state.view === "single" ? "error" : "error-all", error.message);
  }
}

function drawSamples(samples) {
  $("samples").replaceChildren(...samples.map((sample) => {
    const button = element("button", "sample");
    button.type = "button";
    button.dataset.name = `test-${sample.id}.png`;
    button.title = `a test image of a ${sample.label}`;
    button.setAttribute("role", "listitem");
    const image = element("img");
    image.src = sample.url;
    image.alt = sample.label;
    button.append(image);
    button.addEventListener("click", () => chooseSample(sample));
    return button;
  }));
}

function drawRows(info) {
  state.rows = info.rows;
  $("row-select").replaceChildren(...info.rows.map((row) => {
    const option = element("option", "", rowTitle(row) + (accuracy(row) && ` — ${accuracy(row)}`));
    option.value = row.id;
    return option;
  }));
  const classes = info.class_names ? `${info.class_names.length} classes` : "";
  $("run-info").textContent = [info.run && `Run ${info.run}`, info.dataset && `dataset ${info.dataset}`, classes,
    `${info.rows.length} model${info.rows.length === 1 ? "" : "s"}`].filter(Boolean).join(" · ");
  describeRow();
}

function describeRow() {
  const row = state.rows.find((r) => r.id === $("row-select").value);
  $("row-description").textContent = row ? (row.description || "") : "";
}

function wireInput() {
  const zone = $("drop-zone");
  $("preview").addEventListener("error", () => { $("preview").hidden = true; });   // not an image: no preview
  $("file-input").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) chooseImage(file, file.name);
    event.target.value = "";     // choosing the same file again still runs
  });
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file-input").click(); }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => { event.preventDefault(); zone.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    zone.addEventListener(type, () => zone.classList.remove("dragging"));
  }
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) chooseImage(file, file.name);
  });
  $("row-select").addEventListener("change", () => { describeRow(); runSingle(); });
  $("tab-single").addEventListener("click", () => setView("single"));
  $("tab-all").addEventListener("click", () => setView("all"));
}

async function init() {
  wireInput();
  try {
    drawRows(await api("/rows"));
  } catch (error) {
    $("run-info").textContent = error.message;
    $("run-info").classList.add("error");
    return;
  }
  try {
    const answer = await api("/samples");
    drawSamples(answer.samples);
    if (!answer.samples.length) {
      $("samples").replaceChildren(element("p", "muted small", `No test images: ${sentence(answer.note || "none saved")}`));
    }
  } catch (error) {
    $("samples").replaceChildren(element("p", "muted small", `No test images: ${error.message}`));
  }
}

init();
