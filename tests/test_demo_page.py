"""The demo page in headless Chromium, served by the real app (shared/api.py, as `workbook serve --run` serves it)
over a small real run: checkpoints of both frameworks saved with shared.checkpoints.save_model, a results.json
and the run's test images (tests/served_runs.py). Skips with the install command where Chromium is absent."""
import numpy as np
import pytest
from PIL import Image

from tests.browser import browser, js_errors, serve  # noqa: F401 — `browser` is a fixture
from tests.served_runs import make_run, noise_image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]
ROWS = [("cnn", "torch"), ("cnn", "keras"), ("lstm", "torch")]   # each row is confident in class 0, 1, 2


@pytest.fixture(scope="module")
def page(browser, tmp_path_factory):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from shared.api import create_app

    app = create_app(run_dir=make_run(tmp_path_factory.mktemp("demo"), ROWS))
    with serve(app) as url:
        browser.get(url)
        WebDriverWait(browser, 30).until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, ".sample")) == 20)
        yield browser


def _wait(driver, condition, seconds=60):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(lambda _: condition())


def _by_id(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def _all(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _settled(driver):
    result = _by_id(driver, "single-result")
    return result.is_displayed() and "busy" not in result.get_attribute("class")


def test_page_lists_the_rows_and_the_test_images(page):
    options = [option.text for option in _all(page, "#row-select option")]
    assert [option.split(" — ")[0] for option in options] == ["cnn · torch", "cnn · keras", "lstm · torch"]
    assert "3 models" in _by_id(page, "run-info").text and "10 classes" in _by_id(page, "run-info").text
    assert js_errors(page) == []


def test_a_test_image_shows_top_classes_and_the_heatmap(page):
    _by_id(page, "tab-single").click()
    _all(page, ".sample")[0].click()              # a circle; the first row answers circle with certainty
    _wait(page, lambda: _settled(page) and "circle" in _by_id(page, "drop-text").text)
    bars = _all(page, "#single-bars li")
    assert len(bars) == 5 and bars[0].text.split("\n")[0].startswith("circle")
    assert "right" in bars[0].get_attribute("class")
    assert _by_id(page, "single-heatmap").get_attribute("src").startswith("data:image/png;base64,")
    assert "Grad-CAM for “circle”" in _by_id(page, "single-caption").text
    assert "features." in _by_id(page, "single-caption").text


def test_an_unfamiliar_upload_is_flagged_and_a_non_image_gets_a_sentence(page, tmp_path):
    photo, text = tmp_path / "photo.png", tmp_path / "notes.png"
    Image.fromarray(noise_image(size=(32, 32))).save(photo)
    text.write_text("not an image")
    _by_id(page, "tab-single").click()
    _by_id(page, "file-input").send_keys(str(photo))
    _wait(page, lambda: "photo.png" in _by_id(page, "drop-text").text and _settled(page)
          and _by_id(page, "single-caution").is_displayed())
    caution = _by_id(page, "single-caution").text
    assert caution.startswith("The model only knows these classes: circle, triangle")
    assert "unlike the images it was trained on" in caution
    _by_id(page, "file-input").send_keys(str(text))
    _wait(page, lambda: _by_id(page, "error").is_displayed())
    assert _by_id(page, "error").text == \
        "Not an image this workbook can read (send PNG, JPEG, BMP, GIF, TIFF or WebP)."
    assert not _by_id(page, "single-result").is_displayed(), "an old prediction must not stay next to the error"


def test_side_by_side_shows_every_row(page):
    _all(page, ".sample")[1].click()
    _by_id(page, "tab-all").click()
    _wait(page, lambda: len(_all(page, ".card")) == len(ROWS) and not _all(page, ".card.busy"))
    cards = _all(page, ".card")
    for card, (model, framework) in zip(cards, ROWS):
        assert card.text.startswith(f"{model}\n{framework}")
    assert "No heatmap" in cards[2].text                                  # the LSTM has no Grad-CAM layer
    for card in cards[:2]:                                                # torch and keras CNNs both explained
        assert card.find_element("css selector", "img").get_attribute("src").startswith("data:image/png")
        assert "Grad-CAM for" in card.text
    assert "triangle" in cards[1].text.split("\n")[3]                     # the keras row is sure of class 1
    assert js_errors(page) == []
