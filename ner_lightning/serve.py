"""``python -m ner_lightning.serve ckpt_path=<.ckpt|.onnx> [port=8000]``: an HTTP tagger with a page.

Built on FastAPI (served by uvicorn) with request batching in the same process: requests wait on an asyncio queue
and one batcher task tags up to ``max_batch_size`` waiting requests together, a bounded number of characters per
pass taken round-robin from each (``inference/batcher.py``: a small request is not starved by a large one), in a
worker thread so the event loop keeps accepting requests. Limits: characters per text and per request, texts per
request, body bytes (413), and a per-request time limit (503), each a one-line JSON error. In-process batching
avoids the hop to a separate model process that LitServe makes (measured on two CPU cores with a 1 ms/sentence
INT8 model: 1.35x the requests/s at concurrency 32, 2.6x at concurrency 1; ``results/README.md``). Routes:

- ``POST /predict`` ``{"texts": ["...", ...]}`` -> ``{"entities": [[{type, text, start, end}, ...], ...]}``;
  bad requests get a 4xx with a one-line JSON ``{"detail": "..."}`` and the server keeps serving.
- ``GET /health``; ``GET /`` a page (text box, button, entities highlighted by type) with no network assets;
  ``POST /render`` turns texts and entities into the same highlighted HTML as ``predict format=html``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import hydra
from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from omegaconf import DictConfig
from pydantic import BaseModel

from ner_lightning.errors import ConfigError, number, positive_int
from ner_lightning.inference import Predictor, load_tagger
from ner_lightning.inference.batcher import Batcher, RequestTimeout
from ner_lightning.inference.page import PAGE
from ner_lightning.inference.render import colours, marks_html
from ner_lightning.runs.cli import check_config, hydra_entry, run_cli
from ner_lightning.runs.config import config_dir


def check_request(texts: list[str], max_texts: int, max_chars: int, max_request_chars: int | None = None) -> list[str]:
    """``texts`` of a ``/predict`` body (already a list of strings: pydantic checked the types), or ``ValueError``
    with a one-line reason when the request is empty or over the configured sizes."""
    if not texts:
        raise ValueError("texts is empty")
    if len(texts) > max_texts:
        raise ValueError(f"too many texts: {len(texts)} > {max_texts} (serve max_texts)")
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            raise ValueError(f"texts[{i}] has {len(text)} characters > {max_chars} (serve max_chars)")
    total = sum(map(len, texts))
    if max_request_chars is not None and total > max_request_chars:
        raise ValueError(
            f"the texts have {total:,} characters in all > {max_request_chars:,} (serve max_request_chars)"
        )
    return texts


class PredictRequest(BaseModel):
    """``POST /predict`` body."""

    texts: list[str]


class BodyLimit:
    """ASGI middleware: a request body over ``max_bytes`` gets 413 and a one-line JSON error, read no further
    (a declared ``Content-Length`` is refused before reading; a chunked body when it passes the limit)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"request body over {self.max_bytes:,} bytes (serve max_body_bytes)"
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
        if declared is not None:  # the server stops reading at the declared length
            return await self.app(scope, receive, send)
        # read the body here (at most max_bytes of it), then hand it on whole
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message]), send)
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                return await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            if not message.get("more_body"):
                break
        return await self.app(scope, _replay([{"type": "http.request", "body": b"".join(chunks)}], receive), send)


def _replay(messages: list[dict], then: Any = None) -> Any:
    """An ASGI ``receive`` that returns ``messages`` first, then defers to ``then`` (e.g. a later disconnect)."""
    queue = list(messages)

    async def receive() -> dict:
        if queue:
            return queue.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


async def one_line_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors (not JSON, wrong types) as ``{"detail": "<where>: <what>"}``, HTTP 422."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    if first.get("type") == "json_invalid":  # its location is a character position, not a field
        position = next((p for p in first.get("loc", ()) if isinstance(p, int)), None)
        where = "body" + (f" (at character {position})" if position is not None else "")
    hint = ' (expected {"texts": ["...", ...]})'
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}{hint}"}, status_code=422)


def build_app(
    tagger: Predictor,
    max_texts: int,
    max_chars: int,
    max_batch_size: int,
    batch_timeout: float,
    max_request_chars: int | None = None,
    max_body_bytes: int = 1 << 20,
    pass_chars: int = 4000,
    request_timeout: float | None = None,
) -> FastAPI:
    """The FastAPI app serving ``tagger`` (the batcher starts with the app; see ``conf/serve.yaml`` for the limits)."""
    batcher = Batcher(tagger, max_batch_size, batch_timeout, pass_chars, request_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()

    app = FastAPI(title="ner_lightning", lifespan=lifespan)
    app.state.batcher = batcher
    app.add_exception_handler(RequestValidationError, one_line_validation_error)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)

    @app.post("/predict")
    async def predict(request: PredictRequest) -> dict[str, Any]:
        try:
            texts = check_request(request.texts, max_texts, max_chars, max_request_chars)
        except ValueError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        try:
            return {"entities": await batcher.submit(texts)}
        except RequestTimeout as err:
            raise HTTPException(status_code=503, detail=str(err)) from None

    model_types = [label[2:] for label in tagger.labels if label.startswith("B-")]

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in the browser's console

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "batches": batcher.batches, "requests": batcher.requests}

    @app.get("/")
    async def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.post("/render")
    async def render(request: Request) -> Any:
        try:
            body = await request.json()
            docs = body["docs"]
            # the model's types in label order first: the legend keeps one order from request to request
            palette = colours([*model_types, *(e["type"] for d in docs for e in d["entities"])])
            html = "".join(f'<div class="doc">{marks_html(d["text"], d["entities"], palette)}</div>' for d in docs)
        except Exception as err:  # noqa: BLE001 - any malformed body is the client's
            return JSONResponse({"detail": f"expected {{'docs': [{{text, entities}}]}} ({type(err).__name__})"}, 422)
        return {"html": html, "legend": palette}

    return app


def check_port(host: str, port: int) -> None:
    """One line, before anything is loaded or announced, when ``host:port`` cannot be bound (taken, or not ours)."""
    import socket

    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds (TIME_WAIT is no conflict)
        try:
            sock.bind((host, port))
        except OSError as err:
            raise ConfigError(
                f"port={port}: cannot listen on {host}:{port} ({err.strerror}); choose another port="
            ) from None


def serve(cfg: DictConfig) -> None:
    """Check the settings, load the model, serve until interrupted."""
    import uvicorn

    check_config(cfg)
    positive_int("port", cfg.port, minimum=1)
    positive_int("max_texts", cfg.max_texts)
    positive_int("max_chars", cfg.max_chars)
    positive_int("max_batch_size", cfg.max_batch_size)
    positive_int("max_request_chars", cfg.max_request_chars)
    positive_int("max_body_bytes", cfg.max_body_bytes)
    positive_int("pass_chars", cfg.pass_chars)
    if float(cfg.batch_timeout) < 0:
        raise ConfigError(f"batch_timeout={cfg.batch_timeout}: expected seconds >= 0")
    timeout = None if cfg.request_timeout is None else number("request_timeout", cfg.request_timeout, 0.0, strict=True)
    check_port(str(cfg.host), int(cfg.port))
    tagger = load_tagger(cfg.ckpt_path, device=cfg.device, threads=cfg.threads, batch_size=int(cfg.batch_size))
    app = build_app(
        tagger, int(cfg.max_texts), int(cfg.max_chars), int(cfg.max_batch_size), float(cfg.batch_timeout),
        int(cfg.max_request_chars), int(cfg.max_body_bytes), int(cfg.pass_chars), timeout,
    )  # fmt: skip
    print(f"serving {cfg.ckpt_path} on http://{cfg.host}:{cfg.port}/ (POST /predict, GET /health)", flush=True)
    uvicorn.run(app, host=cfg.host, port=int(cfg.port), log_level=cfg.log_level)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="serve")
def _main(cfg: DictConfig) -> None:
    run_cli(serve, cfg)


def main() -> None:
    """Entry point (``python -m ner_lightning.serve``, ``ner-serve``)."""
    hydra_entry(_main)


if __name__ == "__main__":
    main()
