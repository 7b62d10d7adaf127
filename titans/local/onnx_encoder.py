"""MiniLM's BERT encoder as an ONNX Runtime session, built in memory from the same weights.

Nothing is downloaded or exported: the graph is written node by node with ``onnx.helper`` from
the arrays ``MiniLMEmbedder`` reads out of the safetensors file, so both engines compute the
same function (cosine >= 0.99999 between them; tests/titans/local/test_onnx_encoder.py).
Why: ONNX Runtime's GEMMs and fused kernels spread one text over both cores and release the
GIL for the whole forward pass, which halves single-text latency on 2 cores and keeps the
embedding thread from starving the event loop (docs/embeddings.md has the figures).

Inputs are padded ``(batch, seq)`` token ids with a 0/1 attention mask; the graph does the
encoder, mean pooling over the mask and L2 normalisation and returns ``(batch, dim)`` rows.
"""

from __future__ import annotations

import ctypes
import logging
import math
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = [
    "PRECISIONS",
    "OnnxEncoder",
    "bound_heap_growth",
    "build_graph",
    "lower_thread_priority",
    "onnx_runtime_available",
    "quantize_int8",
    "release_freed_memory",
]

PRECISIONS = ("fp32", "int8")

logger = logging.getLogger(__name__)

OPSET = 18  # LayerNormalization (17) and ReduceL2 with axes as an input (18)


class _LayerWeights(Protocol):
    qkv_w: np.ndarray
    qkv_b: np.ndarray
    out_w: np.ndarray
    out_b: np.ndarray
    ln1_g: np.ndarray
    ln1_b: np.ndarray
    ffn_in_w: np.ndarray
    ffn_in_b: np.ndarray
    ffn_out_w: np.ndarray
    ffn_out_b: np.ndarray
    ln2_g: np.ndarray
    ln2_b: np.ndarray


def lower_thread_priority(nice: int) -> None:
    """Raise the calling thread's nice value by ``nice`` (Linux: nice is per thread).

    Background work (the pipeline's embedding and model passes) runs niced so that the ingest
    RPC and the event loop get the cores first during a burst; threads created afterwards by
    this thread inherit the value. Best effort: where the OS refuses, it logs and goes on.
    """
    if nice <= 0 or not hasattr(os, "setpriority"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + nice))
    except OSError as exc:
        logger.debug("could not lower thread priority: %s", exc)


def onnx_runtime_available() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def build_graph(
    *,
    word_emb: np.ndarray,
    pos_plus_type: np.ndarray,
    emb_ln_g: np.ndarray,
    emb_ln_b: np.ndarray,
    layers: Sequence[_LayerWeights],
    num_heads: int,
    eps: float,
) -> Any:
    """The encoder + mean pooling + L2 norm as an ``onnx.ModelProto`` (query weights pre-scaled)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden = int(word_emb.shape[1])
    head_dim = hidden // num_heads
    initializers: list[Any] = []
    nodes: list[Any] = []
    attention_matmuls: list[str] = []  # activation x activation: never quantized
    counter = 0

    def const(name: str, value: np.ndarray | float | Sequence[int]) -> str:
        array = np.asarray(value)
        if array.dtype == np.float64:
            array = array.astype(np.float32)
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], **attrs: Any) -> str:
        nonlocal counter
        counter += 1
        out = f"{op.lower()}_{counter}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    const("word_emb", word_emb)
    const("pos_emb", pos_plus_type)
    zero, one_i, two_i = const("i0", [0]), const("i1", [1]), const("i2", [2])
    one = const("one", np.float32(1.0))
    half = const("half", np.float32(0.5))
    sqrt2 = const("sqrt2", np.float32(math.sqrt(2.0)))
    heads_shape = const("shape_heads", np.array([0, 0, num_heads, head_dim], dtype=np.int64))
    hidden_shape = const("shape_hidden", np.array([0, 0, hidden], dtype=np.int64))
    key_shape = const("shape_keys", np.array([0, 1, 1, -1], dtype=np.int64))
    split_sizes = const("qkv_split", np.array([hidden] * 3, dtype=np.int64))

    x = node("Gather", ["word_emb", "input_ids"], axis=0)
    seq_len = node("Slice", [node("Shape", ["input_ids"]), one_i, two_i])
    x = node("Add", [x, node("Slice", ["pos_emb", zero, seq_len, zero])])
    x = node(
        "LayerNormalization",
        [x, const("emb_ln_g", emb_ln_g), const("emb_ln_b", emb_ln_b)],
        axis=-1,
        epsilon=eps,
    )
    mask = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    # Additive key mask: padded keys get -1e9 before the softmax (weight 0).
    key_bias = node(
        "Reshape",
        [node("Mul", [node("Sub", [one, mask]), const("neg", np.float32(-1e9))]), key_shape],
    )
    for i, layer in enumerate(layers):
        qkv = node("Add", [node("MatMul", [x, const(f"qkv_w{i}", layer.qkv_w)]), const(f"qkv_b{i}", layer.qkv_b)])
        q, k, v = (f"q{i}", f"k{i}", f"v{i}")
        nodes.append(helper.make_node("Split", [qkv, split_sizes], [q, k, v], name=f"split{i}", axis=-1))
        q = node("Transpose", [node("Reshape", [q, heads_shape])], perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [k, heads_shape])], perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [v, heads_shape])], perm=[0, 2, 1, 3])
        scores = node("MatMul", [q, k])
        probs = node("Softmax", [node("Add", [scores, key_bias])], axis=-1)
        weighted = node("MatMul", [probs, v])
        attention_matmuls += [scores, weighted]
        context = node(
            "Reshape",
            [node("Transpose", [weighted], perm=[0, 2, 1, 3]), hidden_shape],
        )
        attn = node("Add", [node("MatMul", [context, const(f"out_w{i}", layer.out_w)]), const(f"out_b{i}", layer.out_b)])
        x = node(
            "LayerNormalization",
            [node("Add", [attn, x]), const(f"ln1_g{i}", layer.ln1_g), const(f"ln1_b{i}", layer.ln1_b)],
            axis=-1,
            epsilon=eps,
        )
        inter = node("Add", [node("MatMul", [x, const(f"ffn_in_w{i}", layer.ffn_in_w)]), const(f"ffn_in_b{i}", layer.ffn_in_b)])
        # Exact GELU, x * 0.5 * (1 + erf(x / sqrt(2))), the pattern ONNX Runtime fuses.
        erf = node("Erf", [node("Div", [inter, sqrt2])])
        gelu = node("Mul", [node("Mul", [inter, node("Add", [erf, one])]), half])
        ffn = node("Add", [node("MatMul", [gelu, const(f"ffn_out_w{i}", layer.ffn_out_w)]), const(f"ffn_out_b{i}", layer.ffn_out_b)])
        x = node(
            "LayerNormalization",
            [node("Add", [ffn, x]), const(f"ln2_g{i}", layer.ln2_g), const(f"ln2_b{i}", layer.ln2_b)],
            axis=-1,
            epsilon=eps,
        )
    summed = node("ReduceSum", [node("Mul", [x, node("Unsqueeze", [mask, two_i])]), one_i], keepdims=0)
    pooled = node("Div", [summed, node("ReduceSum", [mask, one_i], keepdims=1)])
    norm = node("Max", [node("ReduceL2", [pooled, one_i], keepdims=1), const("tiny", np.float32(1e-12))])
    nodes.append(helper.make_node("Div", [pooled, norm], ["embedding"], name="embedding"))
    graph = helper.make_graph(
        nodes,
        "minilm_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"]),
        ],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", hidden])],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 9  # what onnxruntime >= 1.16 reads
    model.metadata_props.add(key="attention_matmuls", value=",".join(attention_matmuls))
    onnx.checker.check_model(model)
    return model


def quantize_int8(model: Any) -> bytes:
    """Dynamic int8 quantization of the weight matrices (per output channel, signed weights;
    activations are quantized per call). The attention products (activation x activation)
    and everything else stay float32. Returns the quantized model's bytes."""

    skip = next(p.value for p in model.metadata_props if p.key == "attention_matmuls").split(",")
    root = logging.getLogger()
    hint = _DropQuantizerHint()
    root.addFilter(hint)  # it advises a pre-processing step that does not apply to this graph
    try:
        return _quantize(model, skip)
    finally:
        root.removeFilter(hint)


class _DropQuantizerHint(logging.Filter):
    """The quantizer logs through the root logger (a hint about a pre-processing step that
    does not apply here, and a line per tensor at INFO): none of it is news to an operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "quantization" not in record.pathname.replace("\\", "/").split("onnxruntime/")[-1]


def _quantize(model: Any, skip: list[str]) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="omega-minilm-") as tmp:
        out = Path(tmp) / "minilm-int8.onnx"
        quantize_dynamic(
            model,
            out,
            op_types_to_quantize=["MatMul", "Gather"],
            nodes_to_exclude=skip,
            per_channel=True,
            weight_type=QuantType.QInt8,
        )
        return out.read_bytes()


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def bound_heap_growth() -> None:
    """Serve allocations of 256 KiB and more with mmap, so they go back to the OS when freed.

    glibc otherwise raises that threshold as large blocks are freed, and the activations of
    each batch (several MB, allocated by ONNX Runtime's threads) then stay in per-thread heaps:
    ~130 MB more resident memory after the first large batch. Process-wide and idempotent;
    call it early (before large blocks were freed): ``MiniLMEmbedder.load`` does.
    """
    try:
        ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):
        pass


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS (glibc keeps them after the graph's transient
    copies are freed, which would otherwise show as ~150 MB of resident memory)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class OnnxEncoder:
    """Runs the graph; thread-safe (ONNX Runtime allows concurrent ``run`` calls on a session).

    ``threads`` is ONNX Runtime's intra-op pool for one call (the caller's thread included).
    Spinning is off: an idle pool would otherwise burn a core that ingest and the event loop
    need. ``nice`` > 0 creates the pool's threads at that lower priority (they inherit it from
    the thread that builds the session); callers lower their own thread too
    (``lower_thread_priority``), since the calling thread takes part in every run.
    """

    def __init__(self, model: Any, *, threads: int, nice: int = 0, precision: str = "fp32") -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r} ({', '.join(PRECISIONS)})")
        self.threads, self.nice, self.precision = threads, max(0, nice), precision
        bound_heap_growth()
        graph: bytes = quantize_int8(model) if precision == "int8" else model.SerializeToString()
        if self.nice == 0:
            self._session = self._new_session(graph)
            return
        built: list[Any] = []
        errors: list[BaseException] = []

        def build() -> None:
            lower_thread_priority(self.nice)
            try:
                built.append(self._new_session(graph))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller below
                errors.append(exc)

        builder = threading.Thread(target=build, name="onnx-session-build")
        builder.start()
        builder.join()
        if errors:
            raise errors[0]
        self._session = built[0]

    def _new_session(self, graph: bytes) -> Any:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # The arena keeps the largest run's activations for the session's life: callers bound
        # their runs (MiniLMEmbedder: <= 1024 token slots, ~30 MB). Without it every run maps
        # fresh pages for its buffers, which made batches ~2x slower per text.
        options.enable_cpu_mem_arena = True
        options.log_severity_level = 3  # warnings about our in-memory graph are noise
        return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])

    def __call__(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = self._session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        result: np.ndarray = np.asarray(out, dtype=np.float32)
        return result
