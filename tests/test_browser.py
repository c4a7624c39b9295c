"""The browser harness itself (tests/browser.py): headless Chromium loads a page, uploads a file, sees the answer."""
import pytest
from fastapi import FastAPI, File, HTTPException, UploadFile
from fastapi.responses import HTMLResponse

from tests.browser import browser, serve  # noqa: F401 — `browser` is a fixture

PAGE = """<!doctype html>
<html><body>
<input type="file" id="file">
<p id="result"></p>
<script>
document.getElementById("file").addEventListener("change", async (event) => {
  const form = new FormData();
  form.append("file", event.target.files[0]);
  const response = await fetch("/upload", {method: "POST", body: form});
  const body = await response.json();
  document.getElementById("result").textContent =
    response.ok ? `${body.name}: ${body.size} bytes` : `error: ${body.detail}`;
});
</script>
</body></html>"""


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return PAGE

    @app.post("/upload")
    def upload(file: UploadFile = File(...)) -> dict:
        data = file.file.read()
        if not data:
            raise HTTPException(400, "the file is empty")
        return {"name": file.filename, "size": len(data)}

    return app


@pytest.mark.timeout(120)
def test_upload_through_a_file_input_shows_the_answer(browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    upload, empty = tmp_path / "hello.bin", tmp_path / "empty.bin"
    upload.write_bytes(b"x" * 1234)
    empty.write_bytes(b"")
    with serve(_app()) as url:
        browser.get(url)
        result = browser.find_element(By.ID, "result")
        browser.find_element(By.ID, "file").send_keys(str(upload))
        WebDriverWait(browser, 20).until(lambda _: result.text)
        assert result.text == "hello.bin: 1234 bytes"
        browser.find_element(By.ID, "file").send_keys(str(empty))
        WebDriverWait(browser, 20).until(lambda _: result.text.startswith("error"))
        assert result.text == "error: the file is empty"
