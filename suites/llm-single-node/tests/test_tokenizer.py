"""The local tokenizer for `vllm bench serve` (scripts/crosscheck-llm.sh): vLLM's random
dataset decodes token ids to a prompt and encodes it again, and the simulated engine counts
the prompt by its bytes; all three counts must agree."""

import numpy as np
from llm_sim.openai_api import text_tokens
from llm_sim.tokenizer import write
from transformers import AutoTokenizer


def test_prompts_round_trip_and_the_engine_counts_them_alike(tmp_path):
    tokenizer = AutoTokenizer.from_pretrained(str(write(tmp_path / "tok")))
    assert tokenizer.vocab_size == 26**3 + 1
    assert tokenizer.all_special_ids == [0]
    assert tokenizer.num_special_tokens_to_add() == 0
    rng = np.random.default_rng(0)
    for n in (1, 7, 512, 4000):
        ids = rng.integers(1, tokenizer.vocab_size, size=n).tolist()
        prompt = tokenizer.decode(ids)
        assert tokenizer.encode(prompt, add_special_tokens=False) == ids
        assert text_tokens(prompt) == n
