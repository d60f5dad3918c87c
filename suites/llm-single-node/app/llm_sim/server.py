"""Standalone OpenAI-compatible server of the simulated engine, without Ray.

The stand-in for `vllm serve` (the bare-engine baseline) on a machine without a
GPU:

    python -m llm_sim.server --port 8100 --model openai/gpt-oss-20b [--time-factor 4]

Routes: `POST /v1/completions`, `POST /v1/chat/completions`, `GET /v1/models`
(the engine parameters, time factor included, in the model's `metadata`),
`GET /health` (200 once serving) and `GET /sim/info` (parameters and the
engine's counters: `late_ms` > 0 means this CPU did not keep up).
"""

import argparse
import contextlib
import dataclasses
import json

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from llm_sim import settings
from llm_sim.engine import EngineCore
from llm_sim.openai_api import (
    RequestError,
    full_response,
    parse_request,
    stream_response,
)
from llm_sim.scheduler import EngineParams


def create_app(model: str, params: EngineParams) -> Starlette:
    """The ASGI app; the engine starts with the app's lifespan."""
    core = EngineCore(params)
    info = {"model": model, "engine": dataclasses.asdict(params)}

    async def generate(request: Request, chat: bool) -> Response:
        try:
            body = json.loads(await request.body())
            if not isinstance(body, dict):
                raise RequestError("the body must be a JSON object")
            if body.get("model", model) != model:
                raise RequestError(f"The model `{body['model']}` does not exist.", 404)
            req = parse_request(body, chat=chat, max_model_len=params.max_model_len)
        except json.JSONDecodeError as err:
            return JSONResponse(RequestError(f"invalid JSON: {err}").body(), 400)
        except RequestError as err:
            return JSONResponse(err.body(), err.status)
        if req.stream:
            events = stream_response(core, req, model)
            return StreamingResponse(events, media_type="text/event-stream")
        return JSONResponse(await full_response(core, req, model))

    async def completions(request: Request) -> Response:
        return await generate(request, chat=False)

    async def chat(request: Request) -> Response:
        return await generate(request, chat=True)

    async def models(_: Request) -> Response:
        card = {"id": model, "object": "model", "owned_by": "llm_sim", "metadata": info}
        return JSONResponse({"object": "list", "data": [card]})

    async def health(_: Request) -> Response:
        return Response(status_code=200)

    async def sim_info(_: Request) -> Response:
        return JSONResponse({**info, "stats": core.stats()})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette):
        core.start()
        yield
        await core.stop()

    routes = [
        Route("/v1/completions", completions, methods=["POST"]),
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
        Route("/sim/info", sim_info, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m llm_sim.server", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model", default=settings.vllm_model())
    for field in dataclasses.fields(EngineParams):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(field.default), help="default: engine.toml")
    args = parser.parse_args(argv)
    names = [f.name for f in dataclasses.fields(EngineParams)]
    overrides = {n: getattr(args, n) for n in names if getattr(args, n) is not None}
    app = create_app(args.model, settings.engine_params(overrides))
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
