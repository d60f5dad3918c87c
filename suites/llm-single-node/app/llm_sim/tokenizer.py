"""A local tokenizer for outside clients of the simulated engine (`vllm bench serve`).

`vllm bench serve` needs a Hugging Face tokenizer to make its random prompts and to count
them, and nothing may be downloaded here. The simulated engine counts a text prompt as one
token per 4 bytes (`openai_api.text_tokens`), so this tokenizer's tokens are the 17,576
three-letter words `aaa` .. `zzz`, split on spaces and joined with one: a prompt of N tokens
is 4 N - 1 bytes, which the engine counts as N tokens too, and decoding then encoding a
prompt gives back the same tokens (vLLM's random dataset checks that).

    python -m llm_sim.tokenizer DIR     # writes DIR/tokenizer.json and tokenizer_config.json
"""

import itertools
import json
import string
import sys
from pathlib import Path

UNK = "[UNK]"


def vocabulary() -> dict[str, int]:
    words = ("".join(w) for w in itertools.product(string.ascii_lowercase, repeat=3))
    vocab = {UNK: 0}
    vocab.update((w, i + 1) for i, w in enumerate(words))
    return vocab


def write(folder: Path) -> Path:
    """Writes the tokenizer into `folder` (created); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {
                "id": 0,
                "content": UNK,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": True,
            }
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocabulary(), "unk_token": UNK},
    }
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": UNK,
        "model_max_length": 1_000_000,
        "clean_up_tokenization_spaces": False,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return folder


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    print(write(Path(sys.argv[1])))
