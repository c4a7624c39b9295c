"""Screenshots of the demo page over a real run, in headless Chromium: the single-row view and the side-by-side one.

    python -m tests.demo_screenshots reports/<run> --out shots/      # after `workbook compare --quick`

It serves the run with the real app (shared/api.py, as `workbook serve --run` does) on a loopback port, picks a
test image (one the most accurate row gets right), waits for the answers and saves, under --out: single.png
(the most accurate row with a heatmap), all.png (every row on the same image), photo.png (an upload that is not
a test image: a photo-like picture, to show the caution) and error.png (a non-image upload and its sentence).
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from tests.browser import serve, start_chromium

WINDOW = (1280, 1000)


def photo_like(path: Path, seed: int = 0) -> Path:
    """A 256x192 picture unlike any `shapes` image: a soft sky-to-ground gradient with a grey blob and texture."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0, 1, 192)[:, None, None]
    sky, ground = np.array([150, 180, 215]), np.array([95, 90, 70])
    picture = (1 - rows) * sky + rows * ground + rng.normal(0, 6, (192, 256, 3))
    y, x = np.mgrid[:192, :256]
    blob = ((y - 120) / 40) ** 2 + ((x - 150) / 60) ** 2 < 1
    picture[blob] = picture[blob] * 0.5 + 60
    Image.fromarray(np.clip(picture, 0, 255).astype(np.uint8)).save(path)
    return path


def _wait(driver, condition, seconds: float = 120):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(lambda _: condition())


def shoot(run_dir: Path, out: Path, sample: int | None = None) -> list[Path]:
    from selenium.webdriver.common.by import By

    from shared.api import create_app

    out.mkdir(parents=True, exist_ok=True)
    app = create_app(run_dir=run_dir)
    sample = best_sample(app) if sample is None else sample
    driver = start_chromium(WINDOW)
    by_id = lambda name: driver.find_element(By.ID, name)   # noqa: E731
    every = lambda selector: driver.find_elements(By.CSS_SELECTOR, selector)   # noqa: E731
    saved = []
    try:
        with serve(app) as url, tempfile.TemporaryDirectory() as tmp:
            driver.get(url)
            _wait(driver, lambda: every(".sample"))
            rows = [option.get_attribute("value") for option in every("#row-select option")]
            with_heatmap = _best_row(app)
            driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'))",
                                  by_id("row-select"), with_heatmap)
            every(".sample")[sample or 0].click()
            _wait(driver, lambda: by_id("single-result").is_displayed() and "busy" not in
                  by_id("single-result").get_attribute("class"))
            saved.append(_save(driver, out / "single.png"))
            by_id("tab-all").click()
            _wait(driver, lambda: len(every(".card")) == len(rows) and not every(".card.busy"))
            saved.append(_save(driver, out / "all.png"))
            by_id("tab-single").click()
            by_id("file-input").send_keys(str(photo_like(Path(tmp) / "holiday.png")))
            _wait(driver, lambda: "holiday.png" in by_id("drop-text").text and by_id("single-result").is_displayed()
                  and "busy" not in by_id("single-result").get_attribute("class"))
            saved.append(_save(driver, out / "photo.png"))
            notes = Path(tmp) / "notes.png"
            notes.write_text("these are my notes, not a picture")
            by_id("file-input").send_keys(str(notes))
            _wait(driver, lambda: by_id("error").is_displayed())
            saved.append(_save(driver, out / "error.png"))
    finally:
        driver.quit()
    return saved


def _save(driver, path: Path) -> Path:
    """The whole page (beyond the window), once every image on it has been decoded."""
    import base64

    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ActionChains(driver).move_to_element(driver.find_element(By.TAG_NAME, "h1")).perform()  # no hover in the shot
    _wait(driver, lambda: driver.execute_script(
        "return [...document.images].every((image) => image.hidden || !image.src || image.complete)"))
    width, height = driver.execute_script("return [document.documentElement.scrollWidth, "
                                          "document.documentElement.scrollHeight]")
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(shot["data"]))
    return path


def best_sample(app) -> int | None:
    """The test image the most accurate row with a heatmap gets right most confidently (None: none right)."""
    from shared.images import open_image

    served = app.state.served
    row = served.rows[_best_row(app)]
    scores = []
    for position, sample in enumerate(served.samples):
        label, probability, _ = row.predictor.predict(open_image(sample.png)).top[0]
        if label == sample.label:
            scores.append((probability, position))
    return max(scores)[1] if scores else None


def _best_row(app) -> str:
    explained = [row.as_dict() for row in app.state.served.rows.values()]
    explained = [row for row in explained if row["gradcam_layer"]] or explained
    return max(explained, key=lambda row: row["test_accuracy"] or 0)["id"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a run directory written by `workbook compare`")
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    parser.add_argument("--sample", type=int, help="which test image to show (its position; default: the one the "
                                                   "most accurate row gets right most surely)")
    args = parser.parse_args(argv)
    for path in shoot(args.run, args.out, args.sample):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
