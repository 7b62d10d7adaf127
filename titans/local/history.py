"""Loading labelled history from CSV (the shipped demo history and tenants' exports)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from titans.local.model import LabelledTicket

_FIELDS = ("category", "priority", "queue", "technician")


def _field(row: dict[str, str], columns: dict[str, str], target: str) -> str:
    col = columns.get(target)
    return (row.get(col) or "").strip() if col else ""


def default_demo_history() -> Path:
    """The demo history shipped in the repository (``demo/history``)."""
    return Path(__file__).resolve().parents[2] / "demo" / "history"


def read_history_csv(
    path: Path,
    *,
    title_col: str = "title",
    description_col: str = "description",
    columns: dict[str, str] | None = None,
) -> list[LabelledTicket]:
    """Read one CSV of resolved tickets; ``columns`` maps target -> column name."""
    columns = columns or {f: f for f in _FIELDS}
    out: list[LabelledTicket] = []
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            out.append(
                LabelledTicket(
                    title=row.get(title_col, "") or "",
                    description=row.get(description_col, "") or "",
                    ticket_id=row.get("ticket_id", "") or f"{Path(path).stem}-{i}",
                    category=_field(row, columns, "category"),
                    priority=_field(row, columns, "priority"),
                    queue=_field(row, columns, "queue"),
                    technician=_field(row, columns, "technician"),
                )
            )
    return out


def load_demo_history(path: Path) -> list[LabelledTicket]:
    """All ``*.csv`` files of a folder (or one file) in the demo-history format."""
    path = Path(path)
    files: Sequence[Path] = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    rows: list[LabelledTicket] = []
    for f in files:
        rows.extend(read_history_csv(f))
    if not rows:
        raise FileNotFoundError(f"no demo history rows under {path}")
    return rows


def read_labelled_csv(
    path: Path,
    text_cols: Sequence[str],
    label_col: str,
    *,
    extra_labels: dict[str, str] | None = None,
    id_col: str = "",
) -> list[LabelledTicket]:
    """Read any CSV: the first text column is the title, the others join into the description;
    ``label_col`` is the category; ``extra_labels`` maps priority/queue/technician -> column."""
    if not text_cols:
        raise ValueError("at least one text column is needed")
    try:
        with Path(path).open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            wanted = [*text_cols, label_col, *(extra_labels or {}).values()]
            for col in [*wanted, *([id_col] if id_col else [])]:
                if col not in fields:
                    raise KeyError(
                        f"column {col!r} not in {path} (its columns: {', '.join(fields) or 'none'})"
                    )
            return [
                LabelledTicket(
                    title=row.get(text_cols[0]) or "",
                    description=" . ".join((row.get(c) or "") for c in text_cols[1:] if row.get(c)),
                    category=(row.get(label_col) or "").strip(),
                    ticket_id=(row.get(id_col) or "") if id_col else f"row-{i}",
                    priority=_field(row, extra_labels or {}, "priority"),
                    queue=_field(row, extra_labels or {}, "queue"),
                    technician=_field(row, extra_labels or {}, "technician"),
                )
                for i, row in enumerate(reader)
            ]
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); export it as UTF-8"
        ) from None
    except csv.Error as exc:
        raise ValueError(f"{path} is not a readable CSV file: {exc}") from None
