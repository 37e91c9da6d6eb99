"""Write the generator's customer stream as a transaction log in the replay schema.

Run ``smartpay-marl export-log --rows N --output PATH [--game PATH] [--seed S]``.
The file (CSV or Parquet, by its suffix) holds the first ``N`` paying
customers of one seeded stream (one environment, step after step): every
column of :data:`smartpay_marl.transaction_log.SCHEMA`, with organic fraud
already applied to the features, as a recorded log would show it. Replaying
the file (``GameConfig.transaction_log``) gives the same transaction features
for these rows, within float rounding (``tests/game/test_transaction_log.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import numpy as np

from smartpay_marl import rules
from smartpay_marl.config import GameConfig, load_game_config
from smartpay_marl.generator import generate_chunk
from smartpay_marl.layout import MERCHANT_CATEGORIES, SEGMENTS, TX

#: Steps generated per block (one environment): bounded memory for any number of rows.
EXPORT_BLOCK_STEPS = 1 << 15


def generated_customers(config: GameConfig, rows: int, seed: int) -> Iterator[tuple[dict[str, np.ndarray], np.ndarray]]:
    """Blocks of (schema columns, the generator's features) for the first ``rows`` paying customers."""
    rng = np.random.default_rng(seed)
    start_hour = rng.integers(0, 24, size=1)
    first_step, left = 0, rows
    while left > 0:
        chunk = generate_chunk(rng, config, 1, EXPORT_BLOCK_STEPS, first_step, start_hour)
        tx, row = chunk.tx[:, 0], chunk.rows[:, 0]
        hours = (start_hour[0] + (first_step + np.arange(EXPORT_BLOCK_STEPS)) // config.steps_per_hour) % 24
        paying = np.flatnonzero(row[:, rules.C_PRESENT] > 0.5)[:left]
        tx, row, hours = tx[paying], row[paying], hours[paying]
        columns = {
            "amount": row[:, rules.C_AMOUNT],
            "is_fraud": row[:, rules.C_FRAUD].astype(np.int8),
            "merchant_category": np.array(MERCHANT_CATEGORIES)[np.argmax(tx[:, TX["merchant"]], axis=1)],
            "segment": np.array(SEGMENTS)[row[:, rules.C_SEGMENT].astype(np.int64)],
            "tenure": tx[:, TX["tenure"].start],
            "card_bin": row[:, rules.C_BIN].astype(np.int8),
            "new_device": tx[:, TX["new_device"].start].astype(np.int8),
            "geo_mismatch": tx[:, TX["geo_mismatch"].start].astype(np.int8),
            "international": tx[:, TX["international"].start].astype(np.int8),
            "card_velocity": row[:, rules.C_VELOCITY],
            "hour": hours.astype(np.int8),
            "risk_score": tx[:, TX["risk_score"].start],
        }
        yield columns, tx
        left -= len(paying)
        first_step += EXPORT_BLOCK_STEPS


def export_log(output: str | Path, rows: int, config: GameConfig | None = None, seed: int = 0) -> int:
    """Write ``rows`` generated customers to ``output`` (.csv or .parquet); returns the rows written."""
    from smartpay_marl.transaction_log import _pyarrow

    pa = _pyarrow()
    output = Path(output)
    suffix = output.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"--output: give a .csv or .parquet file name, got {output}")
    if rows < 1:
        raise ValueError(f"--rows must be >= 1, got {rows}")
    config = config or GameConfig()
    if config.transaction_log is not None:
        raise ValueError("the game config names a transaction_log; export-log writes the generator's stream, drop it")
    output.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    written = 0
    try:
        for columns, _ in generated_customers(config, rows, seed):
            table = pa.table(columns)
            if writer is None:
                if suffix == ".csv":
                    import pyarrow.csv as pcsv

                    writer = pcsv.CSVWriter(str(output), table.schema)
                else:
                    import pyarrow.parquet as pq

                    writer = pq.ParquetWriter(str(output), table.schema)
            writer.write_table(table)
            written += table.num_rows
    finally:
        if writer is not None:
            writer.close()
    return written


def add_arguments(parser) -> None:
    parser.add_argument("--rows", type=int, required=True, metavar="N", help="paying customers to write")
    parser.add_argument("--output", required=True, metavar="PATH", help="the log to write: .csv or .parquet")
    parser.add_argument("--game", metavar="PATH", help="game config YAML (default: medium difficulty)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stream (default 0)")


def main(args) -> None:
    config = load_game_config(args.game) if args.game else GameConfig()
    if args.seed < 0:
        raise SystemExit(f"--seed must be >= 0, got {args.seed}")
    written = export_log(args.output, args.rows, config, args.seed)
    print(f"wrote {written:,} rows to {args.output}")
