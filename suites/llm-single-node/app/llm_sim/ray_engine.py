"""The simulated engine behind Ray Serve LLM's stock `LLMServer`.

`SimLLMEngine` implements `ray.llm._internal.serve.core.engine.protocol.LLMEngine`
(Ray 2.60.0): `start`, then `completions` / `chat` as async generators yielding
`data: {json}\\n\\n` strings when streaming, one `CompletionResponse` /
`ChatCompletionResponse` otherwise, or one `ErrorResponse`. `LLMServer` loads it
through the `RAYLLM_VLLM_ENGINE_CLS` environment variable (set in the LLM
deployment's runtime env by `serve_app.build`), so the deployment keeps Ray's own
class and name. The engine reads its parameters from the LLMConfig:
`max_num_seqs`, `max_num_batched_tokens` and `max_model_len` from `engine_kwargs`
(the same names as vLLM's), the rest from `experimental_configs["llm_sim"]`.
"""

import dataclasses
import logging

from ray.llm._internal.serve.core.configs.llm_config import LLMConfig
from ray.llm._internal.serve.core.configs.openai_api_models import (
    ChatCompletionResponse,
    CompletionResponse,
    ErrorInfo,
    ErrorResponse,
)
from ray.llm._internal.serve.core.engine.protocol import LLMEngine

from llm_sim.engine import EngineCore
from llm_sim.openai_api import (
    RequestError,
    full_response,
    parse_request,
    stream_response,
)
from llm_sim.scheduler import EngineParams

ENGINE_CLS = "llm_sim.ray_engine.SimLLMEngine"
VLLM_KEYS = ("max_num_seqs", "max_num_batched_tokens", "max_model_len")

logger = logging.getLogger(__name__)


def params_from_llm_config(llm_config: LLMConfig) -> EngineParams:
    sim = dict(llm_config.experimental_configs.get("llm_sim", {}))
    sim.update(
        {
            k: llm_config.engine_kwargs[k]
            for k in VLLM_KEYS
            if k in llm_config.engine_kwargs
        }
    )
    return EngineParams(**sim)


def _error(err: RequestError) -> ErrorResponse:
    return ErrorResponse(error=ErrorInfo(**err.body()["error"]))


class SimLLMEngine(LLMEngine):
    """One simulated engine per LLMServer replica."""

    def __init__(self, llm_config: LLMConfig):
        self.llm_config = llm_config
        self.params = params_from_llm_config(llm_config)
        self.core = EngineCore(self.params)

    async def start(self):
        self.core.start()
        params = dataclasses.asdict(self.params)
        logger.info(
            "llm_sim engine for %s started: %s", self.llm_config.model_id, params
        )

    def routing_stats(self) -> dict:
        return {}

    async def resolve_lora(self, lora_model):
        raise ValueError("the simulated engine serves no LoRA adapters")

    async def _generate(self, request, chat: bool):
        names = ("messages", "max_completion_tokens") if chat else ("prompt",)
        body = {n: getattr(request, n) for n in (*names, "max_tokens", "stream", "n")}
        if request.stream_options is not None:
            body["stream_options"] = request.stream_options.model_dump()
        try:
            req = parse_request(
                body, chat=chat, max_model_len=self.params.max_model_len
            )
        except RequestError as err:
            yield _error(err)
            return
        model, request_id = self.llm_config.model_id, request.request_id
        if req.stream:
            async for event in stream_response(self.core, req, model, request_id):
                yield event
        else:
            answer = await full_response(self.core, req, model, request_id)
            yield (ChatCompletionResponse if chat else CompletionResponse)(**answer)

    async def chat(self, request, raw_request_info=None):
        async for item in self._generate(request, chat=True):
            yield item

    async def completions(self, request, raw_request_info=None):
        async for item in self._generate(request, chat=False):
            yield item

    async def embeddings(self, request, raw_request_info=None):
        yield _error(RequestError("the simulated engine does not embed"))

    async def transcriptions(self, request, raw_request_info=None):
        yield _error(RequestError("the simulated engine does not transcribe"))

    async def reset_prefix_cache(self) -> None:
        """Nothing to reset: the simulated engine caches no prefixes."""

    async def shutdown(self) -> None:
        await self.core.stop()
