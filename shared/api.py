"""Inference API: serve one checkpoint, or every row of a `workbook compare` run, with FastAPI; the demo page at /.

    from shared.api import create_app
    app = create_app("reports/<run>/checkpoints/cnn-torch-reference")   # or: workbook serve --checkpoint DIR
    app = create_app(run_dir="reports/<run>")                            # or: workbook serve --run DIR

    GET  /health                        -> {"status": "ok", "rows": [...], "class_names": [...], ...}
    GET  /rows                          -> the rows (model x framework) the page offers
    GET  /samples, /samples/<id>.png    -> the run's test images
    POST /predict?row=&top_k=5&gradcam=false   (one multipart field "file")
         -> {"predictions": [{"label", "probability", "index"}], "classes": [...], "confidence", "familiarity",
             "caution": "<a sentence>" | null, "gradcam": {...} | null, "gradcam_error": ... | null, ...}
    POST /predict/batch?row=&top_k=5           (fields "files", 1 to MAX_BATCH) -> {"results": [...]}, one per file

Every answer that is not a 200 is {"detail": "<a sentence>"}: 400 a corrupt file, a second file in /predict or
an unknown query parameter; 404 an unknown row or sample; 413 too many bytes or pixels; 415 not an image; 422 an
unsupported pixel mode or a bad parameter value. Uploads are decoded by shared/images.py, which checks what a
file declares before decoding it; the model answers through shared/predictor.py, which says which classes it
knows and when not to trust it. `top_k` (default DEFAULT_TOP_K) is the one name and default of the API and of
`workbook predict --top-k`.
"""

from shared.checkpoints import CheckpointError
from shared.images import MAX_BYTES, BadImage, open_image
from shared.predictor import DEFAULT_TOP_K, MAX_TOP_K, Predictor, load_predictor, prepare_image
from shared.serving import Served, ServeError, from_predictor, load_checkpoint, load_run

MAX_BATCH = 16                       # files in one POST /predict/batch
MAX_BATCH_BYTES = 64 * 1024 * 1024   # all of them together
FORM_OVERHEAD = 64 * 1024            # multipart headers and boundaries around the file(s)
FORM_ERRORS = ("Too many files", "Too many fields", "Part exceeded", "Field exceeded", "Missing boundary",
               "Invalid")   # Starlette's multipart errors, answered with their own 400 and text
PREDICT_PARAMETERS = ("row", "top_k", "gradcam")
BATCH_PARAMETERS = ("row", "top_k")

__all__ = ["BadImage", "CheckpointError", "DEFAULT_TOP_K", "MAX_BATCH", "Predictor", "ServeError", "create_app",
           "load_predictor", "prepare_image"]


def _sentence_for_validation(errors) -> str:
    """FastAPI's list of validation errors -> one sentence."""
    parts = []
    for error in errors:
        where = [str(part) for part in error.get("loc", ()) if part not in ("query", "body", "path")]
        name = ".".join(where) or "the request"
        if error.get("type") == "missing" and name in ("file", "files"):
            parts.append(f"no image: send it as the multipart form field {name!r}")
        elif error.get("type") == "missing":
            parts.append(f"{name} is missing")
        else:
            given = error.get("input")
            shown = f" (got {given!r})" if isinstance(given, (str, int, float)) and len(repr(given)) < 60 else ""
            parts.append(f"{name}: {str(error.get('msg', 'is not valid')).lower()}{shown}")
    return "; ".join(parts) or "the request is not valid"


class UploadLimit:
    """ASGI middleware: a request body over its path's limit gets 413 with a sentence, before it is stored. The
    Content-Length header is checked first; a body without one (chunked) is counted as it arrives."""

    def __init__(self, app, limits: dict[str, int]):
        self.app, self.limits = app, limits

    async def __call__(self, scope, receive, send):
        limit = self.limits.get(scope.get("path")) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            from fastapi.responses import JSONResponse

            return await JSONResponse({"detail": _too_large(scope["path"], limit)}, status_code=413)(
                scope, receive, send)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BadImage(413, _too_large(scope["path"], limit))
            return message

        await self.app(scope, counted, send)


def _too_large(path: str, limit: int) -> str:
    return f"the upload is larger than the limit of {limit - FORM_OVERHEAD:,} bytes" + \
        (" for a batch" if path.endswith("/batch") else "")


def _form_problem(error, path: str) -> str:
    """A sentence for a multipart form that could not be parsed (too many files, a broken body, too large)."""
    cause = getattr(error, "__cause__", None)
    if isinstance(cause, BadImage):
        return cause.message
    text = str(error.detail) if cause is None else str(cause)
    if "Too many files" in text and path.endswith("/batch"):
        return f"at most {MAX_BATCH} images per request to POST /predict/batch"
    if "Too many files" in text:
        return (f"one image per request: POST /predict takes one form field 'file'; send several (up to "
                f"{MAX_BATCH}) to POST /predict/batch as fields 'files'")
    return f"the upload could not be read as a multipart form ({text})"


def _install_error_handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.exception_handler(RequestValidationError)
    async def validation(request, error):
        return JSONResponse({"detail": _sentence_for_validation(error.errors())}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http(request, error):
        detail, status = error.detail, error.status_code
        if status == 400 and request.url.path.startswith("/predict") and (
                detail == "There was an error parsing the body" or str(detail).startswith(FORM_ERRORS)):
            detail = _form_problem(error, request.url.path)
            status = 413 if isinstance(error.__cause__, BadImage) else 400
        elif error.status_code == 404 and detail == "Not Found":
            detail = f"there is no {request.url.path} here: see /docs for the API, or / for the demo page"
        elif error.status_code == 405:
            detail = f"{request.method} is not accepted at {request.url.path}: see /docs"
        return JSONResponse({"detail": detail}, status_code=status, headers=error.headers)

    @app.exception_handler(BadImage)
    async def bad_image(request, error):
        return JSONResponse({"detail": error.message}, status_code=error.status_code)

    @app.exception_handler(Exception)
    async def server_fault(request, error):  # a bug or a broken model, never the upload: still a sentence
        return JSONResponse({"detail": f"the server failed on this request ({type(error).__name__}: {error})"},
                            status_code=500)


def _check_query(request, allowed: tuple[str, ...]) -> None:
    from fastapi import HTTPException

    names = [name for name, _ in request.query_params.multi_items()]
    unknown = sorted({name for name in names if name not in allowed})
    if unknown:
        hint = " (the number of classes is top_k)" if any(n in ("k", "topk", "top-k") for n in unknown) else ""
        raise HTTPException(400, f"unknown query parameter {', '.join(map(repr, unknown))}{hint}: this endpoint "
                                 f"takes {', '.join(allowed)}")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise HTTPException(400, f"query parameter {', '.join(map(repr, repeated))} is given more than once")


def _row(served: Served, row_id: str | None):
    from fastapi import HTTPException

    if row_id is None:
        if len(served.rows) == 1:
            return next(iter(served.rows.values()))
        raise HTTPException(400, f"this server has {len(served.rows)} models: choose one with ?row= "
                                 f"({', '.join(served.rows)})")
    if row_id not in served.rows:
        raise HTTPException(404, f"no row {row_id!r} here; the rows are: {', '.join(served.rows)}")
    return served.rows[row_id]


def _answer(row, upload, data: bytes, max_bytes: int, top_k: int, gradcam: bool) -> dict:
    """The JSON answer for one uploaded file (BadImage for a bad file)."""
    predictor = row.predictor
    manifest = predictor.manifest
    image = open_image(data, max_bytes=max_bytes, draft=max(manifest.input.height, manifest.input.width))
    prediction = predictor.predict(image, top_k)
    answer = {"row": row.id, "model": manifest.name, "framework": manifest.framework, "impl": manifest.impl,
              "image": {"filename": upload.filename, **prediction.image}, **prediction.as_dict(),
              "gradcam": None, "gradcam_error": None}
    if gradcam:
        from shared.interpret.gradcam import GradCamUnavailable

        try:
            answer["gradcam"] = predictor.explain(image)
        except GradCamUnavailable as error:
            answer["gradcam_error"] = str(error)
    return answer


def _read(upload, max_bytes: int) -> bytes:
    return upload.file.read(max_bytes + 1)  # one byte more than allowed is enough to know it is too large


def create_app(checkpoint_dir=None, *, run_dir=None, predictor: Predictor | None = None,
               max_bytes: int = MAX_BYTES):
    """The FastAPI app serving a checkpoint directory, a run directory, or a loaded predictor. Everything is
    loaded now, so a bad checkpoint fails at start (CheckpointError / ServeError), not per request."""
    from fastapi import FastAPI, File, HTTPException, Query, Request, UploadFile
    from fastapi.responses import JSONResponse, Response

    from shared.web import add_page

    if run_dir is not None:
        served = load_run(run_dir)
    elif predictor is not None:
        served = from_predictor(predictor)
    else:
        served = load_checkpoint(checkpoint_dir)
    app = FastAPI(title=f"workbook classifier: {served.name}",
                  description="Upload an image to POST /predict (one) or /predict/batch (several); GET /rows "
                              "lists the models; the demo page is at /.")
    _install_error_handlers(app)
    app.add_middleware(UploadLimit, limits={"/predict": max_bytes + FORM_OVERHEAD,
                                            "/predict/batch": MAX_BATCH_BYTES + FORM_OVERHEAD})
    add_page(app)
    app.state.served = served

    @app.get("/health")
    def health():
        first = next(iter(served.rows.values())).predictor.manifest
        one = {"model": first.name, "framework": first.framework, "input_shape": list(first.input.shape)} \
            if len(served.rows) == 1 else {}
        return {"status": "ok", "rows": list(served.rows), **one, "num_classes": len(served.class_names),
                "class_names": served.class_names, "dataset": served.dataset}

    @app.get("/rows")
    def rows():
        return {"run": served.name, "dataset": served.dataset, "class_names": served.class_names,
                "rows": [row.as_dict() for row in served.rows.values()], "skipped": served.skipped,
                "top_k": DEFAULT_TOP_K}

    @app.get("/samples")
    def samples():
        return {"samples": [sample.as_dict() for sample in served.samples], "note": served.samples_note}

    @app.get("/samples/{sample_id}.png")
    def sample(sample_id: str):
        found = next((s for s in served.samples if s.id == sample_id), None)
        if found is None:
            raise HTTPException(404, f"no test image {sample_id!r}; there are {len(served.samples)}")
        return Response(found.png, media_type="image/png", headers={"Cache-Control": "max-age=3600"})

    @app.post("/predict", form_limits={"max_files": 1, "max_fields": 8})
    def predict(request: Request, file: UploadFile = File(..., description="one image: PNG, JPEG, ..."),
                row: str | None = Query(None, description="the row (GET /rows); needed when there are several"),
                top_k: int = Query(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K, description="how many classes to return"),
                gradcam: bool = Query(False, description="also return the Grad-CAM heatmap as a PNG data URL")):
        _check_query(request, PREDICT_PARAMETERS)
        chosen = _row(served, row)
        return JSONResponse(_answer(chosen, file, _read(file, max_bytes), max_bytes, top_k, gradcam))

    @app.post("/predict/batch", form_limits={"max_files": MAX_BATCH, "max_fields": 8})
    def predict_batch(request: Request, files: list[UploadFile] = File(..., description=f"1 to {MAX_BATCH} images"),
                      row: str | None = Query(None), top_k: int = Query(DEFAULT_TOP_K, ge=1, le=MAX_TOP_K)):
        _check_query(request, BATCH_PARAMETERS)
        chosen = _row(served, row)
        results = []
        for upload in files:   # one at a time: memory holds one decoded image, whatever the batch
            try:
                results.append({"status": 200, **_answer(chosen, upload, _read(upload, max_bytes), max_bytes,
                                                         top_k, False)})
            except BadImage as error:
                results.append({"status": error.status_code, "image": {"filename": upload.filename},
                                "detail": error.message})
        return JSONResponse({"row": chosen.id, "results": results})

    return app
