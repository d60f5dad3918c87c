"""llm_sim: a simulated LLM engine (vLLM-like continuous batching on a cost model),
served standalone (`llm_sim.server`) or inside Ray Serve LLM (`llm_sim.serve_app`)."""
