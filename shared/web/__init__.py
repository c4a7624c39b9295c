"""The demo page: plain HTML, CSS and JavaScript served by the inference API's FastAPI app (no build step).

    from shared.web import add_page
    add_page(app)      # GET / -> index.html; GET /web/demo.js, /web/demo.css

The page talks to the JSON API only (the design is in index.html's header comment): GET /rows, GET /samples,
GET /samples/{id}.png and POST /predict?row=...&k=...&gradcam=true. Anything that serves those can serve the page.
"""
from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"   # only the page's files: nothing else is served
INDEX = STATIC_DIR / "index.html"


def add_page(app) -> None:
    """Serve the demo page at / and its files under /web on a FastAPI `app`."""
    from fastapi.responses import FileResponse
    from fastapi.staticfiles import StaticFiles

    app.mount("/web", StaticFiles(directory=STATIC_DIR), name="web")
    app.add_api_route("/", lambda: FileResponse(INDEX, media_type="text/html"), methods=["GET"],
                      include_in_schema=False)
