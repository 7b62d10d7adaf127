"""`omega model train|eval|report` on a small CSV the test writes itself (sparse models only)."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import pytest

from titans.local.cli import add_model_commands

from .conftest import synthetic_tickets


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="omega")
    add_model_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def data_csv(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Subject", "Body", "Group"])
        for r in synthetic_tickets(300, seed=4):
            w.writerow([r.title, r.description, r.category])
    return path


def test_train_then_eval_prints_the_json_figures(
    tmp_path: Path, data_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "model"
    common = [
        "--data",
        str(data_csv),
        "--text-col",
        "Subject",
        "--text-col",
        "Body",
        "--label-col",
        "Group",
    ]
    assert _run(["model", "train", *common, "--out", str(model_dir), "--no-embeddings"]) == 0
    assert (model_dir / "model.joblib").is_file() and (model_dir / "meta.json").is_file()
    capsys.readouterr()
    assert (
        _run(
            [
                "model",
                "eval",
                "--model",
                str(model_dir),
                *common,
                "--json",
                "--latency-sample",
                "20",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    for key in (
        "n",
        "accuracy",
        "macro_f1",
        "top3_accuracy",
        "coverage_at_precision_95",
        "p95_ms_per_ticket",
    ):
        assert key in figures
    assert figures["n"] == 300 and figures["accuracy"] > 0.7


def test_report_writes_markdown_and_plots(tmp_path: Path, data_csv: Path) -> None:
    model_dir = tmp_path / "model"
    common = ["--data", str(data_csv), "--text-col", "Subject", "--label-col", "Group"]
    assert _run(["model", "train", *common, "--out", str(model_dir), "--no-embeddings"]) == 0
    out = tmp_path / "report"
    assert (
        _run(
            [
                "model",
                "report",
                "--model",
                str(model_dir),
                *common,
                "--out",
                str(out),
                "--latency-sample",
                "5",
            ]
        )
        == 0
    )
    for name in ("report.md", "confusion_matrix.png", "precision_coverage.png", "per_class_f1.png"):
        assert (out / name).stat().st_size > 0


def _train_args(data: Path, out: Path, label: str = "Group", text: str = "Subject") -> list[str]:
    return [
        "model", "train", "--data", str(data), "--text-col", text, "--label-col", label,
        "--out", str(out), "--no-embeddings",
    ]  # fmt: skip


def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, data_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No tracebacks for what a person gets wrong: each case names the command and the cause."""

    def error(argv: list[str]) -> str:
        capsys.readouterr()
        assert _run(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err, err
        return err

    model = tmp_path / "m"
    assert "column 'Nope' not in" in error(_train_args(data_csv, model, text="Nope"))
    assert "its columns: Subject, Body, Group" in error(_train_args(data_csv, model, label="G"))
    assert not model.exists()
    assert "No such file or directory" in error(_train_args(tmp_path / "none.csv", model))
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("Subject,Group\nDrucker kaputt, M\xfcnchen,Hardware\n".encode("latin-1"))
    assert "is not UTF-8 text" in error(_train_args(latin1, model))
    tiny = tmp_path / "tiny.csv"
    tiny.write_text("Subject,Group\nprinter jam,Hardware\n", encoding="utf-8")
    assert "need at least 20 tickets" in error(_train_args(tiny, model))

    assert _run(_train_args(data_csv, model)) == 0
    evaluate = ["model", "eval", "--data", str(data_csv), "--text-col", "Subject"]
    assert "no model in" in error([*evaluate, "--label-col", "Group", "--model", str(tmp_path)])
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "model.joblib").write_bytes(b"not a model")
    assert "is not a readable model" in error(
        [*evaluate, "--label-col", "Group", "--model", str(damaged)]
    )


def test_eval_skips_unlabelled_rows_and_counts_unknown_labels(
    tmp_path: Path, data_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A row without a label is not a wrong answer (it was counted as one, with a phantom
    class dragging macro-F1 down); a label the model never saw is, and is counted."""
    model = tmp_path / "m"
    assert _run(_train_args(data_csv, model)) == 0
    rows = list(csv.reader(data_csv.open(encoding="utf-8")))
    mixed = tmp_path / "mixed.csv"
    with mixed.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerows(rows[:201])
        w.writerows([[r[0], r[1], ""] for r in rows[201:251]])  # 50 unlabelled
        w.writerows([[r[0], r[1], "Facilities"] for r in rows[251:261]])  # 10 unknown
    capsys.readouterr()
    argv = ["model", "eval", "--model", str(model), "--data", str(mixed), "--text-col", "Subject"]
    assert _run([*argv, "--label-col", "Group", "--json", "--latency-sample", "2"]) == 0
    figures = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert figures["n"] == 210 and figures["unlabelled_skipped"] == 50
    assert figures["labels_unknown_to_model"] == 10
    unlabelled_only = tmp_path / "unlabelled.csv"
    unlabelled_only.write_text("Subject,Group\nprinter jam,\n", encoding="utf-8")
    assert _run(["model", "eval", "--model", str(model), "--data", str(unlabelled_only),
                 "--text-col", "Subject", "--label-col", "Group"]) == 2  # fmt: skip
    assert "no row of" in capsys.readouterr().err


def test_eval_and_report_say_how_many_tickets_the_model_was_trained_on(
    tmp_path: Path, data_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Evaluating on the training file gives flattering figures; the model records digests of
    its training texts, so eval and report count such tickets and warn. A model saved before
    it recorded them says it cannot tell (null), not 0."""
    rows = list(csv.reader(data_csv.open(encoding="utf-8")))
    train = tmp_path / "train.csv"
    with train.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows[:201])  # header + 200 tickets
    texts = {" ".join(r[:1]).lower() for r in rows[1:201]}
    unseen = sum(1 for r in rows[201:] if r[0].lower() not in texts)
    model = tmp_path / "m"
    assert _run(_train_args(train, model)) == 0
    capsys.readouterr()
    argv = ["model", "eval", "--model", str(model), "--data", str(data_csv), "--text-col",
            "Subject", "--label-col", "Group", "--latency-sample", "2"]  # fmt: skip
    assert _run([*argv, "--json"]) == 0
    out = capsys.readouterr()
    figures = json.loads(out.out.strip().splitlines()[-1])
    assert figures["n"] == 300 and figures["seen_in_training"] == 300 - unseen >= 200
    assert f"trained on {figures['seen_in_training']} of these 300 tickets" in out.err

    report = tmp_path / "report"
    rep = ["model", "report", "--model", str(model), "--data", str(data_csv), "--text-col",
           "Subject", "--label-col", "Group", "--out", str(report), "--latency-sample", "2"]  # fmt: skip
    assert _run(rep) == 0
    assert "**Warning: the model was trained on" in (report / "report.md").read_text()

    import joblib

    old = joblib.load(model / "model.joblib")
    del old.__dict__["train_digests"]  # as pickled before the digests existed
    joblib.dump(old, model / "model.joblib")
    capsys.readouterr()
    assert _run([*argv, "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out.strip().splitlines()[-1])["seen_in_training"] is None
    assert "warning" not in out.err
