"""``python -m ner_lightning.serve ckpt_path=<.ckpt|.onnx> [port=8000]``: an HTTP tagger with a page.

Built on FastAPI (served by uvicorn) with request batching in the same process: requests wait on an asyncio queue
and one batcher task hands up to ``max_batch_size`` waiting requests to the model in one forward pass (in a worker
thread, so the event loop keeps accepting requests). In-process batching avoids the hop to a separate model process
that LitServe makes (measured on two CPU cores with a 1 ms/sentence INT8 model: 1.35x the requests/s at
concurrency 32, 2.6x at concurrency 1; ``results/README.md``). Routes:

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
from fastapi.responses import HTMLResponse, JSONResponse
from omegaconf import DictConfig
from pydantic import BaseModel

from ner_lightning.cli import check_config, hydra_entry, run_cli
from ner_lightning.config import config_dir
from ner_lightning.errors import ConfigError, positive_int
from ner_lightning.inference import Predictor, load_tagger
from ner_lightning.inference.page import PAGE
from ner_lightning.inference.render import colours, marks_html


def check_request(texts: list[str], max_texts: int, max_chars: int) -> list[str]:
    """``texts`` of a ``/predict`` body (already a list of strings: pydantic checked the types), or ``ValueError``
    with a one-line reason when the request is empty or over the configured sizes."""
    if not texts:
        raise ValueError("texts is empty")
    if len(texts) > max_texts:
        raise ValueError(f"too many texts: {len(texts)} > {max_texts} (serve max_texts)")
    for i, text in enumerate(texts):
        if len(text) > max_chars:
            raise ValueError(f"texts[{i}] has {len(text)} characters > {max_chars} (serve max_chars)")
    return texts


class PredictRequest(BaseModel):
    """``POST /predict`` body."""

    texts: list[str]


class Batcher:
    """Collects waiting requests and tags them together: one forward pass per batch of requests.

    Args:
        tagger: the predictor.
        max_batch_size: requests per forward pass at most.
        batch_timeout: seconds the first request of a batch waits for company (0: take what is already waiting).
    """

    def __init__(self, tagger: Predictor, max_batch_size: int, batch_timeout: float) -> None:
        self.tagger = tagger
        self.max_batch_size = max_batch_size
        self.batch_timeout = batch_timeout
        self.queue: asyncio.Queue[tuple[list[str], asyncio.Future]] = asyncio.Queue()
        self.batches = 0  # forward passes so far (how well requests were batched)
        self.requests = 0

    async def submit(self, texts: list[str]) -> list[Any]:
        """Entities of ``texts`` once their batch has been tagged."""
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        await self.queue.put((texts, future))
        return await future

    async def run(self) -> None:
        """Forever: take a waiting request, add those that arrive within ``batch_timeout``, tag them at once."""
        loop = asyncio.get_running_loop()
        while True:
            items = [await self.queue.get()]
            deadline = loop.time() + self.batch_timeout
            while len(items) < self.max_batch_size:
                try:
                    items.append(self.queue.get_nowait())
                except asyncio.QueueEmpty:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        items.append(await asyncio.wait_for(self.queue.get(), left))
                    except asyncio.TimeoutError:
                        break
            flat = [text for texts, _ in items for text in texts]
            try:
                found = await loop.run_in_executor(None, self.tagger.predict, flat)
            except Exception as err:  # noqa: BLE001 - reported to each waiting request, the loop goes on
                for _, future in items:
                    if not future.done():
                        future.set_exception(err)
                continue
            self.batches += 1
            self.requests += len(items)
            pos = 0
            for texts, future in items:
                if not future.done():
                    future.set_result(found[pos : pos + len(texts)])
                pos += len(texts)


async def one_line_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors (not JSON, wrong types) as ``{"detail": "<where>: <what>"}``, HTTP 422."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    hint = ' (expected {"texts": ["...", ...]})'
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}{hint}"}, status_code=422)


def build_app(tagger: Predictor, max_texts: int, max_chars: int, max_batch_size: int, batch_timeout: float) -> FastAPI:
    """The FastAPI app serving ``tagger`` (the batcher starts with the app)."""
    batcher = Batcher(tagger, max_batch_size, batch_timeout)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(batcher.run())
        yield
        task.cancel()

    app = FastAPI(title="ner_lightning", lifespan=lifespan)
    app.state.batcher = batcher
    app.add_exception_handler(RequestValidationError, one_line_validation_error)

    @app.post("/predict")
    async def predict(request: PredictRequest) -> dict[str, Any]:
        try:
            texts = check_request(request.texts, max_texts, max_chars)
        except ValueError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None
        return {"entities": await batcher.submit(texts)}

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
            palette = colours([e["type"] for d in docs for e in d["entities"]])
            html = "".join(f'<div class="doc">{marks_html(d["text"], d["entities"], palette)}</div>' for d in docs)
        except Exception as err:  # noqa: BLE001 - any malformed body is the client's
            return JSONResponse({"detail": f"expected {{'docs': [{{text, entities}}]}} ({type(err).__name__})"}, 422)
        return {"html": html, "legend": palette}

    return app


def serve(cfg: DictConfig) -> None:
    """Check the settings, load the model, serve until interrupted."""
    import uvicorn

    check_config(cfg)
    positive_int("port", cfg.port, minimum=1)
    positive_int("max_texts", cfg.max_texts)
    positive_int("max_chars", cfg.max_chars)
    positive_int("max_batch_size", cfg.max_batch_size)
    if float(cfg.batch_timeout) < 0:
        raise ConfigError(f"batch_timeout={cfg.batch_timeout}: expected seconds >= 0")
    tagger = load_tagger(cfg.ckpt_path, device=cfg.device, threads=cfg.threads, batch_size=int(cfg.batch_size))
    app = build_app(tagger, int(cfg.max_texts), int(cfg.max_chars), int(cfg.max_batch_size), float(cfg.batch_timeout))
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
