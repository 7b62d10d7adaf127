"""``omega model train | eval | report``: train a model from a CSV, measure it, write a report."""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from titans.local.classifier import ClassifierConfig
from titans.local.history import read_labelled_csv
from titans.local.language import LanguageDetector
from titans.local.metrics import classification_report, label_indices
from titans.local.model import LabelledTicket, TriageModel
from titans.local.store import ModelStore, check_tenant, load_model_dir, save_model_dir

if TYPE_CHECKING:
    from mesh.settings import OmegaSettings

logger = logging.getLogger(__name__)

DEFAULT_CACHE = Path(".omega") / "embeddings"
DEFAULT_TARGET_PRECISION = 0.95


def _add_data_args(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--data", type=Path, required=required, help="CSV file of labelled tickets")
    p.add_argument(
        "--text-col", action="append", required=required, help="text column (repeatable)"
    )
    p.add_argument("--label-col", required=required, help="category/label column")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="embedding cache folder")


def _add_store_args(p: argparse.ArgumentParser, *, tenant_required: bool) -> None:
    p.add_argument(
        "--tenant",
        required=tenant_required,
        default=None if tenant_required else "default",
        help="tenant the model belongs to",
    )
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="the mesh's data folder (default: OMEGA_DATA_DIR or .omega); models live in"
        " DATA_DIR/models/<tenant>",
    )


def _clear_errors(
    name: str, func: Callable[[argparse.Namespace], int]
) -> Callable[[argparse.Namespace], int]:
    """Bad input (a missing file or column, a file that is not UTF-8 CSV, too little data, a
    folder that holds no model) is one line on stderr naming the command, and exit code 2; a
    model store that cannot be reached is exit code 1. Never a traceback."""
    from federation.errors import OmegaError, Unavailable

    @functools.wraps(func)
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except OmegaError as exc:  # Unavailable: e.g. Blob Storage unreachable; else settings
            print(f"omega model {name}: {exc}", file=sys.stderr)
            return 1 if isinstance(exc, Unavailable) else 2
        except KeyError as exc:
            print(f"omega model {name}: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
        except OSError as exc:
            what = f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc)
            print(f"omega model {name}: {what}", file=sys.stderr)
            return 2
        except ValueError as exc:
            print(f"omega model {name}: {exc}", file=sys.stderr)
            return 2

    return run


def add_model_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``model train|eval|report`` under an ``omega`` sub-command parser."""
    model = subparsers.add_parser("model", help="train, evaluate and report on triage models")
    sub = model.add_subparsers(dest="model_command", required=True)

    train = sub.add_parser(
        "train",
        help="retrain a tenant's model from its technicians' labels (promoted only if better),"
        " or train a model folder from a labelled CSV (--out)",
        description="Without --out: retrain TENANT's model in the mesh's model store from the"
        " tickets its technicians corrected, confirmed or resolved (plus --data, a history"
        " export, if given), reusing the embeddings the pipeline stored; the new version becomes"
        " current only if it beats the current one on the same held-out tickets. With --out:"
        " train a stand-alone model folder from --data (for evaluation and benchmarks).",
    )
    _add_data_args(train, required=False)
    train.add_argument("--out", type=Path, help="write a stand-alone model folder here")
    _add_store_args(train, tenant_required=False)
    train.add_argument(
        "--all-tenants",
        action="store_true",
        help="without --out: retrain every tenant of the tenants (or policies) file in turn,"
        " one JSON line each (for a nightly job; use with --min-new)",
    )
    train.add_argument(
        "--min-new",
        type=int,
        default=0,
        help="without --out: train only if at least this many labelled tickets arrived since"
        " the last training (for a schedule; otherwise print skipped and exit 0)",
    )
    train.add_argument(
        "--id-col",
        default="",
        help="ticket id column of --data (an example with the same id replaces the row)",
    )
    train.add_argument("--priority-col", default="", help="optional priority label column")
    train.add_argument("--queue-col", default="", help="optional queue/assignment group column")
    train.add_argument("--technician-col", default="", help="optional technician column")
    train.add_argument("--no-embeddings", action="store_true", help="sparse n-gram models only")
    train.add_argument(
        "--target-precision",
        type=float,
        default=None,
        help="precision the abstention threshold holds (default: the tenant's"
        " target_precision in the tenants file, else 0.95)",
    )
    train.set_defaults(func=_clear_errors("train", cmd_train))

    ev = sub.add_parser("eval", help="evaluate a trained model on a labelled CSV")
    _add_data_args(ev)
    ev.add_argument("--model", type=Path, required=True, help="model folder from `model train`")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--latency-sample", type=int, default=200, help="tickets timed one by one")
    ev.set_defaults(func=_clear_errors("eval", cmd_eval))

    rep = sub.add_parser("report", help="write a markdown + PNG report for a model on a CSV")
    _add_data_args(rep)
    rep.add_argument("--model", type=Path, required=True)
    rep.add_argument("--out", type=Path, required=True, help="folder for report.md and plots")
    rep.add_argument("--latency-sample", type=int, default=50)
    rep.set_defaults(func=_clear_errors("report", cmd_report))

    versions = sub.add_parser("versions", help="a tenant's model versions and promotion log")
    _add_store_args(versions, tenant_required=True)
    versions.add_argument("--json", action="store_true", help="print one JSON object")
    versions.set_defaults(func=_clear_errors("versions", cmd_versions))

    promote = sub.add_parser(
        "promote", help="make a stored version current (roll back or forward), logged"
    )
    _add_store_args(promote, tenant_required=True)
    promote.add_argument("--version", required=True, help="a version from `model versions`")
    promote.add_argument("--reason", default="", help="why (kept in the promotion log)")
    promote.set_defaults(func=_clear_errors("promote", cmd_promote))


def _load_embedder() -> object | None:
    try:
        from titans.local.embedding import MiniLMEmbedder

        return MiniLMEmbedder.load()
    except (ImportError, FileNotFoundError) as exc:
        logger.warning("MiniLM embedder unavailable (%s); sparse models only", type(exc).__name__)
        return None


def embed_rows(rows: Sequence[LabelledTicket], cache_dir: Path, embedder: object) -> np.ndarray:
    """Embeddings of the rows' texts through the on-disk cache (computed once, then reused)."""
    from titans.local.embedding import EmbeddingCache, MiniLMEmbedder

    assert isinstance(embedder, MiniLMEmbedder)
    cache = EmbeddingCache(cache_dir, embedder.model_id)
    return cache.embed_saving_as_it_goes(embedder, [r.text for r in rows])


def _data_dir(args: argparse.Namespace) -> Path:
    if args.data_dir is not None:
        return Path(args.data_dir)
    from mesh.settings import OmegaSettings

    return OmegaSettings().data_dir


def _models(args: argparse.Namespace) -> ModelStore:
    """The mesh's model store: ``DATA_DIR/models``, or Blob Storage with ``OMEGA_MODELS=blob``."""
    from backends.factory import open_model_store
    from mesh.settings import OmegaSettings

    store: ModelStore = open_model_store(OmegaSettings(data_dir=_data_dir(args)))
    return store


def _history_rows(args: argparse.Namespace) -> list[LabelledTicket]:
    if args.data is None:
        return []
    if not args.text_col or not args.label_col:
        raise SystemExit("omega model train: --data needs --text-col and --label-col")
    extra = {
        t: c
        for t, c in (
            ("priority", args.priority_col),
            ("queue", args.queue_col),
            ("technician", args.technician_col),
        )
        if c
    }
    return read_labelled_csv(
        args.data, args.text_col, args.label_col, extra_labels=extra, id_col=args.id_col
    )


def cmd_train(args: argparse.Namespace) -> int:
    """Retrain a tenant's model in the store (no --out) or write a model folder (--out)."""
    if args.out is None:
        return cmd_retrain(args)
    if args.data is None:
        raise SystemExit(
            "omega model train: --out needs --data (or leave out --out to retrain"
            " the tenant's model from its technicians' labels)"
        )
    return cmd_train_folder(args)


def cmd_retrain(args: argparse.Namespace) -> int:
    """Retrain ``--tenant`` (or ``--all-tenants``) from the mesh's labelled tickets; prints one
    JSON object per tenant."""
    from mesh.settings import OmegaSettings
    from teams.shadow.retrain import NothingToTrainError

    settings = OmegaSettings(data_dir=_data_dir(args))
    if args.all_tenants and args.data is not None:
        raise SystemExit(
            "omega model train: --all-tenants takes no --data (a history is per tenant)"
        )
    directory = settings.tenant_directory()
    tenants = directory.names() if args.all_tenants else [check_tenant(args.tenant)]
    # Each tenant's own precision target from the tenants (or policies) file, 0.95 when unset.
    targets = directory.target_precisions()
    history = _history_rows(args)
    models = _models(args)
    embedder = None if args.no_embeddings else _load_embedder()

    def one(tenant: str, rows: list[LabelledTicket]) -> dict[str, object]:
        return _retrain_one(
            args, settings, tenant, rows, models, embedder,
            args.target_precision or targets.get(tenant, DEFAULT_TARGET_PRECISION),
        )  # fmt: skip

    if not args.all_tenants:
        try:
            one(args.tenant, history)
        except NothingToTrainError as exc:
            print(f"omega model train: {exc}", file=sys.stderr)
            return 2
        return 0
    failed = 0
    for tenant in tenants:
        try:
            one(tenant, [])
        except NothingToTrainError as exc:  # too little data: skipped, not a failure
            print(json.dumps({"tenant": tenant, "skipped": True, "promoted": False,
                              "reason": str(exc)}))  # fmt: skip
            print(f"omega model train: {tenant}: skipped: {exc}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - one tenant's failure must not stop the rest
            failed += 1
            logger.exception("retraining tenant %s failed", tenant)
            print(json.dumps({"tenant": tenant, "error": f"{type(exc).__name__}: {exc}"}))
    return 1 if failed else 0


def _retrain_one(
    args: argparse.Namespace,
    settings: OmegaSettings,
    tenant: str,
    history: list[LabelledTicket],
    models: ModelStore,
    embedder: object | None,
    target: float,
) -> dict[str, object]:
    """One tenant's retrain: one JSON line on stdout, a verdict on stderr; returns the line.
    Raises ``NothingToTrainError`` when the tenant has too little data."""
    from backends.factory import open_store
    from teams.shadow.retrain import retrain_tenant

    report = retrain_tenant(
        lambda: open_store(settings),
        models,
        tenant,
        history=history,
        embedder=embedder,
        cache_dir=args.cache,
        target_precision=target,
        min_new=args.min_new,
    )
    out = {"tenant": tenant, **report.as_dict()}
    print(json.dumps(out), flush=True)
    verdict = (
        "skipped"
        if out["skipped"]
        else ("promoted" if out["promoted"] else "kept the current model")
    )
    print(f"omega model train: {tenant}: {verdict}: {out['reason']}", file=sys.stderr)
    return out


def cmd_versions(args: argparse.Namespace) -> int:
    """List the tenant's versions (newest first) with how each was made and the promotion log."""
    store = _models(args)
    current = store.current_version(args.tenant)
    promotions = store.promotions(args.tenant)
    promoted = {p.get("version") for p in promotions}
    rows = []
    for version in reversed(store.versions(args.tenant)):
        meta = store.meta(args.tenant, version)
        holdout = meta.get("holdout") or {}
        heads = meta.get("heads")
        category = heads.get("category") if isinstance(heads, dict) else None
        category = category if isinstance(category, dict) else {}
        rows.append(
            {
                "version": version,
                "current": version == current,
                "source": meta.get("source", "training"),
                "n_train": meta.get("n_train"),
                "oof_accuracy": category.get("oof_accuracy"),
                "holdout_accuracy": holdout.get("accuracy") if isinstance(holdout, dict) else None,
                # From the log (a version made current at any time, by training or by
                # hand); versions stored before the log existed say so in their meta.
                "promoted": version in promoted or bool(meta.get("promoted")),
            }
        )
    if args.json:
        print(
            json.dumps(
                {
                    "tenant": args.tenant,
                    "current": current,
                    "versions": rows,
                    "promotions": promotions,
                }
            )
        )
        return 0
    if not rows:
        print(f"tenant {args.tenant} has no stored models")
        return 0

    def fmt(x: object) -> str:
        return f"{x:.4f}" if isinstance(x, float) else ("-" if x is None else str(x))

    print(f"{'':2}{'version':28}{'source':16}{'n_train':>8}{'oof acc':>9}{'hold-out':>10}")
    for r in rows:
        mark = "* " if r["current"] else "  "
        print(
            f"{mark}{r['version']:27} {r['source']!s:16}{fmt(r['n_train']):>8}"
            f"{fmt(r['oof_accuracy']):>9}{fmt(r['holdout_accuracy']):>10}"
        )
    for p in promotions[-5:]:
        print(
            f"{p.get('at')}  {p.get('previous')} -> {p.get('version')}  by {p.get('by')}: "
            f"{p.get('reason')}"
        )
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    """Point the tenant's ``current`` at a stored version (a roll-back is a promotion too)."""
    store = _models(args)
    # Refuses another tenant's or a damaged model (one line, exit 2: _clear_errors).
    store.load(args.tenant, args.version)
    store.promote(
        args.tenant, args.version, reason=args.reason or "by hand", by="omega model promote"
    )
    print(json.dumps({"tenant": args.tenant, "current": args.version}))
    return 0


def cmd_train_folder(args: argparse.Namespace) -> int:
    """Train and save a model folder; prints a JSON summary."""
    rows = _history_rows(args)
    embedder = None if args.no_embeddings else _load_embedder()
    t0 = time.perf_counter()
    emb = embed_rows(rows, args.cache, embedder) if embedder is not None else None
    embed_s = time.perf_counter() - t0
    model = TriageModel.train(
        check_tenant(args.tenant),
        rows,
        embeddings=emb,
        embedding_model_id=getattr(embedder, "model_id", ""),
        config=ClassifierConfig(use_embeddings=emb is not None),
        target_precision=args.target_precision or DEFAULT_TARGET_PRECISION,
    )
    model.version = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    save_model_dir(model, args.out, {"embed_seconds": round(embed_s, 3)})
    print(json.dumps({**model.summary(), "embed_seconds": round(embed_s, 3)}))
    return 0


def evaluate(
    model: TriageModel,
    rows: Sequence[LabelledTicket],
    cache_dir: Path,
    latency_sample: int,
) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """Figures for ``model`` on ``rows`` plus the probability matrix and true indices."""
    embedder = _load_embedder() if model.uses_embeddings else None
    if model.uses_embeddings and embedder is None:
        raise RuntimeError("model needs MiniLM embeddings but the embedder is not installed")
    emb = embed_rows(rows, cache_dir, embedder) if embedder is not None else None
    texts = [r.text for r in rows]
    proba, _, _ = model.predict_proba(texts, emb)
    head = model.heads["category"]
    y = label_indices([r.category for r in rows], head.classes)
    result = classification_report(proba["category"], y, 0.95)
    # Tickets whose label the model was never trained on are always counted wrong.
    result["labels_unknown_to_model"] = int((y < 0).sum())
    # Tickets the model was trained on make every figure look better than it is.
    seen = model.seen_in_training(texts)
    result["seen_in_training"] = seen  # type: ignore[assignment]  # None: the model cannot tell
    detector = LanguageDetector()
    timings = []
    for text in texts[:latency_sample]:
        t = time.perf_counter()
        vec = embedder.embed([text])[0] if embedder is not None else None  # type: ignore[attr-defined]
        model.predict_one(text, vec, detector)
        timings.append((time.perf_counter() - t) * 1000)
    result["p50_ms_per_ticket"] = float(np.percentile(timings, 50)) if timings else 0.0
    result["p95_ms_per_ticket"] = float(np.percentile(timings, 95)) if timings else 0.0
    result["model_version"] = model.version  # type: ignore[assignment]
    return result, proba["category"], y


def _labelled_rows(args: argparse.Namespace) -> tuple[list[LabelledTicket], int]:
    """The CSV's rows that carry a label, and how many did not (skipped, counted)."""
    rows = read_labelled_csv(args.data, args.text_col, args.label_col)
    labelled = [r for r in rows if r.category]
    if not labelled:
        raise ValueError(f"no row of {args.data} has a label in column {args.label_col!r}")
    return labelled, len(rows) - len(labelled)


def _warn_if_seen(result: dict[str, float]) -> None:
    seen = int(result.get("seen_in_training") or 0)
    if seen > 0:
        print(
            f"omega model: warning: the model was trained on {seen} of these {int(result['n'])}"
            " tickets; the figures overstate how it does on tickets it has not seen",
            file=sys.stderr,
        )


def cmd_eval(args: argparse.Namespace) -> int:
    """Evaluate a model folder on a CSV; ``--json`` prints one JSON object."""
    model = load_model_dir(args.model)
    rows, unlabelled = _labelled_rows(args)
    result, _, _ = evaluate(model, rows, args.cache, args.latency_sample)
    result["unlabelled_skipped"] = unlabelled
    _warn_if_seen(result)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:28s} {value}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Write report.md with confusion matrix, precision-coverage and per-class F1 plots."""
    from titans.local.report import write_report

    model = load_model_dir(args.model)
    rows, unlabelled = _labelled_rows(args)
    result, proba, y = evaluate(model, rows, args.cache, args.latency_sample)
    result["unlabelled_skipped"] = unlabelled
    _warn_if_seen(result)
    path = write_report(args.out, model, result, proba, y)
    print(str(path))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m titans.local.cli model ...``)."""
    parser = argparse.ArgumentParser(prog="omega")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
