"""The demo page (shared/web/static) in headless Chromium, against the API stub (tests/demo_stub.py).

Phase 2 points the same steps at `workbook serve --run` (shared/api.py); the page only knows the JSON API.
"""
import io

import numpy as np
import pytest
from PIL import Image

from tests.browser import browser, js_errors, serve  # noqa: F401 — `browser` is a fixture
from tests.demo_stub import ROWS, SAMPLES, create_stub_app

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def page(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with serve(create_stub_app()) as url:
        browser.get(url)
        WebDriverWait(browser, 20).until(lambda _: len(browser.find_elements(By.CSS_SELECTOR, ".sample")) == SAMPLES)
        yield browser


def _wait(driver, condition, seconds=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds).until(lambda _: condition())


def _by_id(driver, name):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, name)


def _all(driver, selector):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_page_lists_the_rows_and_the_test_images(page):
    options = [option.text for option in _all(page, "#row-select option")]
    assert len(options) == len(ROWS) and options[0].startswith("cnn · torch")
    assert "6 models" in _by_id(page, "run-info").text
    assert js_errors(page) == []


def test_a_test_image_shows_top_classes_and_the_heatmap(page):
    _by_id(page, "tab-single").click()
    _all(page, ".sample")[2].click()
    _wait(page, lambda: _by_id(page, "single-result").is_displayed() and _all(page, "#single-bars li"))
    bars = _all(page, "#single-bars li")
    assert len(bars) == 5 and bars[0].text.split("\n")[0]
    assert _by_id(page, "single-heatmap").get_attribute("src").startswith("data:image/png;base64,")
    assert "Grad-CAM for" in _by_id(page, "single-caption").text and "features.-1.2" in _by_id(page, "single-caption").text
    assert "A test image of a" in _by_id(page, "drop-text").text


def test_an_upload_is_predicted_and_a_non_image_gets_a_sentence(page, tmp_path):
    photo, text = tmp_path / "photo.png", tmp_path / "notes.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(photo)
    text.write_text("not an image")
    _by_id(page, "tab-single").click()
    _by_id(page, "file-input").send_keys(str(photo))
    _wait(page, lambda: "photo.png" in _by_id(page, "drop-text").text and _by_id(page, "single-result").is_displayed())
    _by_id(page, "file-input").send_keys(str(text))
    _wait(page, lambda: _by_id(page, "error").is_displayed())
    assert _by_id(page, "error").text == \
        "Not an image this workbook can read (send PNG, JPEG, BMP, GIF, TIFF or WebP)."
    assert not _by_id(page, "single-result").is_displayed(), "an old prediction must not stay next to the error"


def test_side_by_side_shows_every_row(page):
    _all(page, ".sample")[5].click()
    _by_id(page, "tab-all").click()
    _wait(page, lambda: len(_all(page, ".card")) == len(ROWS) and not _all(page, ".card.busy"))
    cards = _all(page, ".card")
    for card, row in zip(cards, ROWS):
        assert row[1] in card.text and row[2] in card.text
    lstm = cards[[row[1] for row in ROWS].index("lstm")]
    assert "No heatmap" in lstm.text
    heatmaps = [card for card in cards if "No heatmap" not in card.text]
    assert all(card.find_element("css selector", "img").get_attribute("src").startswith("data:image/png")
               for card in heatmaps)
    assert js_errors(page) == []
