"""Export the corrections people sent to the web UI as a labelled data set (tools/digit_dataset).

    make feedback-export OUT=data/feedback          # from `make run`'s .run/feedback.db
    FEEDBACK_DATABASE_URL=postgresql://… make feedback-export OUT=dir   # from PostgreSQL

Each correction is one digit: the handler's 28×28 (as the UI stored it, so training sees what
the server saw) and the label the person gave; the original images go to originals/, named by
their content, so the digits of one number share one file. labels.csv also has the id, the
predicted digit, the mode, the position, the time and the model version. `make train
--extra-data OUT` reads the IDX pair.
"""

from __future__ import annotations

import hashlib
import io
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy.exc import SQLAlchemyError

from tools import paths
from tools.cli import parse_config
from tools.digit_dataset import LabelledDigit, write_dataset
from webui.feedback.store import DATABASE_URL_ENV, FeedbackStore, StoredCorrection, database_url

EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/bmp": ".bmp",
    "image/webp": ".webp",
    "image/tiff": ".tif",
}
PROGRESS_EVERY = 1000  # corrections between progress lines


@dataclass
class ExportConfig:
    out: Path = Path("feedback")  # folder to write the data set into: new or empty
    db_file: Path = paths.FEEDBACK_DB  # the UI's SQLite file; FEEDBACK_DATABASE_URL wins if set


def labelled_digit(row: StoredCorrection) -> LabelledDigit:
    """One stored correction as a row of the data set."""
    digit = np.asarray(Image.open(io.BytesIO(row.digit_png)).convert("L"), dtype=np.uint8)
    name = hashlib.sha256(row.original).hexdigest()[:16]
    return LabelledDigit(
        digit=digit,
        label=row.label,
        original=row.original,
        original_name=name + EXTENSIONS.get(row.original_content_type, ".bin"),
        extra={
            "id": row.id,
            "predicted": row.predicted,
            "mode": row.mode,
            "position": row.position,
            "created_at": row.created_at.isoformat(),
            "model_version": row.model_version,
        },
    )


def export(config: ExportConfig) -> int:
    """Write the data set; return how many corrections it holds."""
    url = database_url(config.db_file)
    if url.startswith("sqlite:") and not config.db_file.exists():
        raise FileNotFoundError(
            f"No corrections database at {config.db_file}: the web UI creates it at start "
            f"(make run), or set {DATABASE_URL_ENV}."
        )
    if config.out.exists() and any(config.out.iterdir()):
        raise FileExistsError(f"{config.out} is not empty: export into a new or empty folder.")
    store = FeedbackStore(url)
    print(f"Reading corrections from {store.describe()} …", file=sys.stderr, flush=True)
    rows: list[LabelledDigit] = []
    try:
        for row in store.rows():
            rows.append(labelled_digit(row))
            if len(rows) % PROGRESS_EVERY == 0:
                print(f"  {len(rows):,} read", file=sys.stderr, flush=True)
    finally:
        store.dispose()
    write_dataset(config.out, rows)
    per_label = Counter(row.label for row in rows)
    originals = len({row.original_name for row in rows})
    print(
        f"Wrote {len(rows):,} corrections ({originals:,} original images) to {config.out}\n"
        "  per label: " + ", ".join(f"{d}: {per_label[d]}" for d in range(10))
    )
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    config = parse_config(ExportConfig, argv, positional=("out",))
    try:
        export(config)
    except (FileNotFoundError, FileExistsError, SQLAlchemyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
