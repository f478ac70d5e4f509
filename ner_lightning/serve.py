"""``python -m ner_lightning.serve ckpt_path=<.ckpt|.onnx> [port=8000]``: an HTTP tagger with a page.

Built on LitServe (Lightning's serving library, FastAPI underneath): it batches concurrent requests dynamically
(``max_batch_size`` requests or ``batch_timeout`` seconds, whichever comes first) into one forward pass, runs the model
in its own worker process, and gives ``/health`` for free. Routes:

- ``POST /predict`` ``{"texts": ["...", ...]}`` -> ``{"entities": [[{type, text, start, end}, ...], ...]}``;
  bad requests get a 4xx with a one-line JSON ``{"detail": "..."}`` and the server keeps serving.
- ``GET /health``; ``GET /`` a page (text box, button, entities highlighted by type) with no network assets;
  ``POST /render`` turns texts and entities into the same highlighted HTML as ``predict format=html``.
"""

import sys
from typing import Any

import hydra
from omegaconf import DictConfig

from ner_lightning.cli import check_config, hydra_entry, run_cli
from ner_lightning.config import config_dir
from ner_lightning.errors import ConfigError, positive_int
from ner_lightning.inference.page import PAGE
from ner_lightning.inference.render import colours, marks_html

try:
    import litserve as ls
    from fastapi import HTTPException, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse
    from pydantic import BaseModel
except ImportError as err:  # pragma: no cover - a broken install
    print(f"error: the server needs LitServe (pip install litserve): {err}", file=sys.stderr)
    raise SystemExit(2) from None


def check_request(body: Any, max_texts: int, max_chars: int) -> list[str]:
    """The texts of a ``/predict`` body, or ``ValueError`` with a one-line reason."""
    if not isinstance(body, dict) or "texts" not in body:
        raise ValueError('expected a JSON object {"texts": ["...", ...]}')
    texts = body["texts"]
    if not isinstance(texts, list):
        raise ValueError(f"texts must be a list of strings, got {type(texts).__name__}")
    if not texts:
        raise ValueError("texts is empty")
    if len(texts) > max_texts:
        raise ValueError(f"too many texts: {len(texts)} > {max_texts} (serve max_texts)")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] must be a string, got {type(text).__name__}")
        if len(text) > max_chars:
            raise ValueError(f"texts[{i}] has {len(text)} characters > {max_chars} (serve max_chars)")
    return texts


class PredictRequest(BaseModel):
    """``POST /predict`` body."""

    texts: list[str]


class TaggerAPI(ls.LitAPI):
    """decode (validate) -> a batch of requests -> one predict over all their texts -> entities per request.

    Args:
        settings: ``ckpt_path``, ``batch_size``, ``device``, ``threads``, ``max_texts``, ``max_chars`` (plain values:
            LitServe pickles the API into its worker process).
    """

    def __init__(self, settings: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def setup(self, device: str) -> None:
        from ner_lightning.inference import load_tagger

        opts = self.settings
        kwargs: dict[str, Any] = {"batch_size": int(opts["batch_size"])}
        if str(opts["ckpt_path"]).endswith(".onnx"):
            kwargs["threads"] = opts["threads"]
        else:
            kwargs["device"] = opts["device"] or ("cuda" if str(device).startswith("cuda") else "cpu")
        self.tagger = load_tagger(opts["ckpt_path"], **kwargs)

    def decode_request(self, request: PredictRequest) -> list[str]:
        """The texts of a request, validated (HTTP 422 with a one-line reason otherwise)."""
        try:
            return check_request(request.model_dump(), int(self.settings["max_texts"]), int(self.settings["max_chars"]))
        except ValueError as err:
            raise HTTPException(status_code=422, detail=str(err)) from None

    def batch(self, inputs: list[list[str]]) -> list[list[str]]:
        return inputs

    def predict(self, requests: list[list[str]]) -> list[list[list[Any]]]:
        flat = [text for texts in requests for text in texts]
        found = self.tagger.predict(flat)
        out, pos = [], 0
        for texts in requests:
            out.append(found[pos : pos + len(texts)])
            pos += len(texts)
        return out

    def unbatch(self, output: list[Any]) -> list[Any]:
        return output

    def encode_response(self, output: list[list[Any]]) -> dict[str, Any]:
        return {"entities": output}


async def page() -> HTMLResponse:
    """``GET /``: the page."""
    return HTMLResponse(PAGE)


async def render(request: Request) -> Any:
    """``POST /render`` ``{"docs": [{"text", "entities"}]}`` -> ``{"html", "legend"}`` (predict's HTML renderer)."""
    try:
        body = await request.json()
        docs = body["docs"]
        palette = colours([e["type"] for d in docs for e in d["entities"]])
        html = "".join(f'<div class="doc">{marks_html(d["text"], d["entities"], palette)}</div>' for d in docs)
    except Exception as err:  # noqa: BLE001 - any malformed body is the client's
        return JSONResponse({"detail": f"expected {{'docs': [{{text, entities}}]}} ({type(err).__name__})"}, 422)
    return {"html": html, "legend": palette}


async def one_line_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """FastAPI's validation errors (not JSON, wrong types) as ``{"detail": "<where>: <what>"}``, HTTP 422."""
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or "body"
    hint = ' (expected {"texts": ["...", ...]})'
    return JSONResponse({"detail": f"{where}: {first.get('msg', 'invalid')}{hint}"}, status_code=422)


def build_server(cfg: DictConfig) -> ls.LitServer:
    """The LitServer for ``cfg`` (not started)."""
    keys = ("ckpt_path", "batch_size", "device", "threads", "max_texts", "max_chars")
    settings = {k: cfg.get(k) for k in keys}
    api = TaggerAPI(settings, max_batch_size=int(cfg.max_batch_size), batch_timeout=float(cfg.batch_timeout))
    server = ls.LitServer(api, accelerator=cfg.accelerator, devices=1, timeout=float(cfg.timeout))
    # LitServe answers "/" itself: the page replaces that route
    server.app.router.routes = [r for r in server.app.router.routes if getattr(r, "path", None) != "/"]
    server.app.add_api_route("/", page, methods=["GET"])
    server.app.add_api_route("/render", render, methods=["POST"])
    server.app.add_exception_handler(RequestValidationError, one_line_validation_error)
    return server


def serve(cfg: DictConfig) -> None:
    """Check the settings, load the model in the worker, serve until interrupted."""
    check_config(cfg)
    positive_int("port", cfg.port, minimum=1)
    positive_int("max_texts", cfg.max_texts)
    positive_int("max_chars", cfg.max_chars)
    positive_int("max_batch_size", cfg.max_batch_size)
    if not str(cfg.ckpt_path).endswith(".onnx"):
        from pathlib import Path

        if not Path(cfg.ckpt_path).is_file():
            raise ConfigError(f"{cfg.ckpt_path}: no such checkpoint (ckpt_path)")
    server = build_server(cfg)
    server.run(host=cfg.host, port=int(cfg.port), generate_client_file=False, log_level=cfg.log_level)


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="serve")
def _main(cfg: DictConfig) -> None:
    run_cli(serve, cfg)


def main() -> None:
    """Entry point (``python -m ner_lightning.serve``, ``ner-serve``)."""
    hydra_entry(_main)


if __name__ == "__main__":
    main()
