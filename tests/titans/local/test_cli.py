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


def test_unknown_column_is_an_error(tmp_path: Path, data_csv: Path) -> None:
    with pytest.raises(KeyError):
        _run(
            [
                "model",
                "train",
                "--data",
                str(data_csv),
                "--text-col",
                "Nope",
                "--label-col",
                "Group",
                "--out",
                str(tmp_path / "m"),
                "--no-embeddings",
            ]
        )
