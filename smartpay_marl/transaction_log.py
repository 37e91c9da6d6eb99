"""Replay a recorded transaction log as the game's customer stream, validated before anything starts.

With ``GameConfig.transaction_log`` set, the legitimate customers and the
organic fraud of every episode come from the log's rows instead of the
generator's model. Gateways, the issuer, chargebacks, reviews, churn and the
fraud ring's attempts keep their rules; a ring attempt takes the card profile
of a customer drawn from the log, as it takes a generated one otherwise.

The log (CSV or Parquet) has one row per payment attempt; :data:`SCHEMA` names
its columns. ``amount`` and ``is_fraud`` are required. An absent optional
column is filled per checkout slot by the generator's model (the same
distributions as :mod:`smartpay_marl.generator`) and the log's ``notes`` say
so. A YAML column mapping (:class:`ColumnMapping`, examples under
``configs/logs/``) renames columns and maps categories by name, so that a log
in another layout is used unedited.

Reading: the needed columns only, with pyarrow, batch by batch, into compact
numpy arrays (about 23 bytes a row), once per process (:func:`load_transaction_log`
caches by path, size and modification time). Validation happens while
reading: the first bad cell raises :class:`TransactionLogError`, one line,
``<file>: row <r>, column <c>: <what is wrong>``; rows count from 1 after the
header, and row 0 means the header (a missing column) or the whole file.

Episodes: at reset each environment draws from the seed a start row of the
log; its customers are the log's rows from there on, in order (wrapping at
the end). Whether a checkout slot has a customer, the profile a ring attempt
uses in an idle slot, the fillers of absent columns and every other random
number are drawn in chunks from the episode's generator, independently of
the actions, so the same seed gives the same episode bit for bit and common
random numbers across policies hold.

pyarrow is an optional dependency (the ``logs`` extra); the core game never
imports this module unless a log is configured.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
from numba import njit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartpay_marl import generator as gen
from smartpay_marl import rules
from smartpay_marl.fraud import BACKGROUND_MIX, NUM_TEMPLATES
from smartpay_marl.layout import MERCHANT_CATEGORIES, NUM_BINS, NUM_SEGMENTS, SEGMENTS, TX_DIM

MISSING_EXTRA_MESSAGE = (
    "transaction logs need pyarrow, which is not installed: install the 'logs' extra "
    "(pip install 'smartpay-marl[logs]')"
)


class TransactionLogError(ValueError):
    """A bad transaction log or mapping; the message is one line naming the file, row and column."""


@dataclass(frozen=True)
class Column:
    """One column of the log schema."""

    name: str
    kind: Literal["amount", "label", "flag", "category", "bin", "unit", "count", "hour", "timestamp"]
    required: bool
    doc: str
    absent: str  # what happens when the log lacks the column


#: The log schema, one row per payment attempt. ``hour`` and ``timestamp`` are alternatives.
SCHEMA: tuple[Column, ...] = (
    Column("amount", "amount", True, "payment amount in dollars, >= 0", "required"),
    Column("is_fraud", "label", True, "fraud label: 1 fraud (chargeback or confirmed), 0 legitimate", "required"),
    Column("merchant_category", "category", False, "one of " + ", ".join(MERCHANT_CATEGORIES),
           "drawn from the generator's shares (15/15/25/25/10/10%)"),
    Column("segment", "category", False, "customer segment: " + ", ".join(SEGMENTS),
           "drawn from the generator's shares (30/55/15%)"),
    Column("tenure", "unit", False, "account age and history in [0, 1], 0 new to 1 long-standing",
           "drawn uniformly in the segment's band"),
    Column("card_bin", "bin", False, f"card BIN category, an integer 0-{NUM_BINS - 1}", "drawn uniformly"),
    Column("new_device", "flag", False, "1 if the device was never seen for this customer",
           "drawn with the segment's new-device rate"),
    Column("geo_mismatch", "flag", False, "1 if the location is far from the customer's home region",
           f"drawn ({gen.P_GEO_MISMATCH:.0%}, travel {gen.TRAVEL_P_GEO:.0%})"),
    Column("international", "flag", False, "1 if the card is foreign to the merchant's country",
           f"drawn ({gen.P_INTERNATIONAL:.0%}, travel {gen.TRAVEL_P_INTERNATIONAL:.0%})"),
    Column("card_velocity", "count", False, "transactions on this card in the last hour, >= 0",
           f"drawn Poisson({gen.LEGIT_VELOCITY_MEAN:g})"),
    Column("hour", "hour", False, "hour of day 0-23 (or give timestamp)",
           "the game's clock: a random start hour, steps_per_hour steps an hour"),
    Column("timestamp", "timestamp", False, "a timestamp, or seconds since any midnight; gives the hour",
           "see hour"),
    Column("risk_score", "unit", False, "the upstream fraud model's score in [0, 1]",
           "the generator's risk model (features, tenure, merchant, noise)"),
)  # fmt: skip
COLUMNS = {c.name: c for c in SCHEMA}
#: Category names of each categorical column, in the order of their codes.
CATEGORY_NAMES = {"merchant_category": MERCHANT_CATEGORIES, "segment": SEGMENTS}
FLAG_COLUMNS = ("international", "new_device", "geo_mismatch")  # the order of the generator's flags


def schema_markdown() -> str:
    """The schema as a markdown table (the docs page shows it)."""
    rows = ["| column | required | meaning | when absent |", "|---|---|---|---|"]
    for c in SCHEMA:
        rows.append(f"| `{c.name}` | {'yes' if c.required else 'no'} | {c.doc} | {c.absent} |")
    return "\n".join(rows)


# ----------------------------------------------------------------------------- mapping
class ColumnMapping(BaseModel):
    """How a log's own column names and categories map onto :data:`SCHEMA` (a YAML file).

    ``columns``: schema column -> the log's column. ``categories``: schema
    column -> {the log's value: the schema's value}, for categorical columns and
    for flags or labels spelled as words. ``defaults``: schema column -> the
    value of an empty cell (without one, an empty cell is an error).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    columns: dict[str, str] = Field(default_factory=dict)
    categories: dict[str, dict[str, str | int | float | bool]] = Field(default_factory=dict)
    defaults: dict[str, str | int | float | bool] = Field(default_factory=dict)

    @field_validator("columns", "categories", "defaults")
    @classmethod
    def _known_schema_columns(cls, value: dict) -> dict:
        unknown = sorted(set(value) - set(COLUMNS))
        if unknown:
            raise ValueError(f"unknown schema columns {unknown}; the schema has: {', '.join(COLUMNS)}")
        return value

    @model_validator(mode="after")
    def _targets_are_schema_values(self) -> "ColumnMapping":
        for name, table in self.categories.items():
            column = COLUMNS[name]
            if column.kind not in ("category", "bin", "flag", "label"):
                raise ValueError(f"categories.{name}: {name!r} is not categorical, a flag or the label")
            for value, target in table.items():
                if _schema_code(column, target) is None:
                    allowed = ", ".join(map(str, _schema_values(column)))
                    raise ValueError(f"categories.{name}.{value}: {target!r} is not one of {allowed}")
        return self

    def source(self, name: str) -> str:
        return self.columns.get(name, name)


def load_mapping(path: str | Path | None) -> ColumnMapping:
    """The mapping in a YAML file (identity when ``path`` is None); one-line error naming the file otherwise."""
    if path is None:
        return ColumnMapping()
    from smartpay_marl.config_errors import read_yaml_mapping, validation_message

    try:
        data = read_yaml_mapping(path, "transaction log mapping")
    except (OSError, ValueError) as error:
        raise TransactionLogError(str(error)) from None
    try:
        return ColumnMapping.model_validate(data)
    except ValidationError as error:
        raise TransactionLogError(f"{path}: row 0, column -: invalid mapping: {validation_message(error)}") from None


# ----------------------------------------------------------------------------- the loaded log
@dataclass
class TransactionLog:
    """A validated log as compact numpy columns; an optional column absent from the file is None."""

    path: str
    amount: np.ndarray  # float64
    is_fraud: np.ndarray  # int8
    merchant: np.ndarray | None = None  # int8 codes into MERCHANT_CATEGORIES
    segment: np.ndarray | None = None  # int8 codes into SEGMENTS
    tenure: np.ndarray | None = None  # float32
    card_bin: np.ndarray | None = None  # int8
    flags: dict[str, np.ndarray] = field(default_factory=dict)  # int8, FLAG_COLUMNS present in the file
    velocity: np.ndarray | None = None  # float32
    hour: np.ndarray | None = None  # int8
    risk_score: np.ndarray | None = None  # float32
    notes: list[str] = field(default_factory=list)

    @property
    def num_rows(self) -> int:
        return int(self.amount.shape[0])

    @property
    def nbytes(self) -> int:
        arrays = [self.amount, self.is_fraud, self.merchant, self.segment, self.tenure, self.card_bin,
                  self.velocity, self.hour, self.risk_score, *self.flags.values()]  # fmt: skip
        return int(sum(a.nbytes for a in arrays if a is not None))


_DTYPES = {"amount": np.float64, "label": np.int8, "flag": np.int8, "category": np.int8, "bin": np.int8,
           "unit": np.float32, "count": np.float32, "hour": np.int8}  # fmt: skip
_CACHE: dict[tuple, TransactionLog] = {}


def load_transaction_log(path: str | Path, mapping: str | Path | None = None) -> TransactionLog:
    """The validated log at ``path`` (read once per process and cached by path, size and modification time)."""
    path = Path(path)
    key = (str(path), str(mapping), *_file_stamp(path), *(_file_stamp(Path(mapping)) if mapping else ()))
    log = _CACHE.get(key)
    if log is None:
        log = read_transaction_log(path, load_mapping(mapping))
        _CACHE.clear()  # one log per process at a time: a long-lived process that switches logs keeps one copy
        _CACHE[key] = log
        if log.notes:  # once per process and log: which columns the generator's model fills
            absent = [note.split("'")[1] for note in log.notes]
            warnings.warn(
                f"transaction log {log.path}: absent columns filled by the generator's model: {', '.join(absent)}",
                AbsentColumnsWarning,
                stacklevel=2,
            )
    return log


class AbsentColumnsWarning(UserWarning):
    """A transaction log lacks optional columns; the generator's model fills them (see ``TransactionLog.notes``)."""


def _file_stamp(path: Path) -> tuple[int, int]:
    try:
        stat = path.stat()
    except OSError:
        return (-1, -1)
    return (stat.st_size, stat.st_mtime_ns)


def _pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute  # noqa: F401
    except ImportError:
        raise TransactionLogError(MISSING_EXTRA_MESSAGE) from None
    return pyarrow


def read_transaction_log(path: str | Path, mapping: ColumnMapping | None = None, batch_rows: int = 1 << 18) -> TransactionLog:
    """Read and validate a CSV or Parquet log into a :class:`TransactionLog`; :class:`TransactionLogError` if bad."""
    pa = _pyarrow()
    mapping = mapping or ColumnMapping()
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise TransactionLogError(f"{where}: row 0, column -: no such file (relative paths start at {Path.cwd()})")
    if path.stat().st_size == 0:
        raise TransactionLogError(f"{where}: row 0, column -: the file is empty (no header, no rows)")
    fmt = _format_of(path)
    file_columns = _file_columns(path, fmt, where)
    wanted = _wanted_columns(file_columns, mapping, where)
    reader = _Reader(path, fmt, wanted, mapping, where, batch_rows)
    # Batches are converted straight into preallocated compact arrays, so memory never holds two copies.
    capacity = reader.row_capacity()
    arrays = {name: np.empty(capacity, dtype=_DTYPES.get(COLUMNS[name].kind, np.int8)) for name in wanted}
    offset = 0
    for batch in reader.batches():
        if offset + batch.num_rows > capacity:  # cannot happen for a well-formed file; stay correct regardless
            capacity = 2 * (offset + batch.num_rows)
            arrays = {name: np.concatenate([a[:offset], np.empty(capacity - offset, a.dtype)]) for name, a in arrays.items()}
        for name in wanted:
            values = _convert(pa, batch.column(mapping.source(name)), COLUMNS[name], mapping, where, offset)
            arrays[name][offset : offset + len(values)] = values
        offset += batch.num_rows
        del batch
    if offset == 0:
        raise TransactionLogError(f"{where}: row 1, column -: the log has a header but no rows")
    arrays = {name: a[:offset] for name, a in arrays.items()}
    pa.default_memory_pool().release_unused()  # give Arrow's freed batch buffers back to the system
    log = TransactionLog(path=where, amount=arrays.pop("amount"), is_fraud=arrays.pop("is_fraud"))
    log.merchant = arrays.pop("merchant_category", None)
    log.segment = arrays.pop("segment", None)
    log.tenure = arrays.pop("tenure", None)
    log.card_bin = arrays.pop("card_bin", None)
    log.velocity = arrays.pop("card_velocity", None)
    log.risk_score = arrays.pop("risk_score", None)
    log.hour = arrays.pop("hour", None)
    if "timestamp" in arrays:
        log.hour = arrays.pop("timestamp")
    log.flags = {name: arrays.pop(name) for name in FLAG_COLUMNS if name in arrays}
    log.notes = [
        f"column {c.name!r} is absent: {c.absent}"
        for c in SCHEMA
        if c.name not in wanted and c.name != "timestamp" and not (c.name == "hour" and "timestamp" in wanted)
    ]
    return log


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    if suffix in (".csv", ".txt"):
        return "csv"
    raise TransactionLogError(f"{path}: row 0, column -: unknown log format {suffix!r}; give a .csv or .parquet file")


def _file_columns(path: Path, fmt: str, where: str) -> list[str]:
    pa = _pyarrow()
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(path).schema_arrow.names)
        import pyarrow.csv as pcsv

        with pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=1 << 16)) as reader:
            return list(reader.schema.names)
    except (pa.ArrowInvalid, OSError) as error:
        raise TransactionLogError(f"{where}: row 0, column -: not a readable {fmt} file: {_one_line(error)}") from None


def _wanted_columns(file_columns: list[str], mapping: ColumnMapping, where: str) -> list[str]:
    wanted = []
    for column in SCHEMA:
        source = mapping.source(column.name)
        if source in file_columns:
            wanted.append(column.name)
        elif column.required or column.name in mapping.columns:
            named = f"{source!r} (schema column {column.name!r})" if source != column.name else repr(source)
            raise TransactionLogError(
                f"{where}: row 0, column {named}: missing; the file has columns {', '.join(file_columns)}"
            )
    if "hour" in wanted and "timestamp" in wanted:
        wanted.remove("timestamp")  # the hour is given directly
    return wanted


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


class _Reader:
    """Record batches of the wanted columns, CSV or Parquet, with one-line errors for unreadable cells."""

    def __init__(self, path: Path, fmt: str, wanted: list[str], mapping: ColumnMapping, where: str, batch_rows: int):
        self.path, self.fmt, self.wanted, self.mapping, self.where = path, fmt, wanted, mapping, where
        self.batch_rows = batch_rows
        self.sources = [mapping.source(name) for name in wanted]

    def _label(self, source: str) -> str:
        name = next((n for n in self.wanted if self.mapping.source(n) == source), source)
        return repr(source) if source == name else f"{source!r} (schema column {name!r})"

    def row_capacity(self) -> int:
        """At least the number of rows: Parquet states it; for CSV, the count of line breaks (+1).

        Quoted line breaks make the CSV bound loose; the unused tail of arrays
        allocated to it is never written, so it never takes memory.
        """
        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            return int(pq.ParquetFile(self.path).metadata.num_rows)
        breaks = 0
        with open(self.path, "rb") as handle:
            while block := handle.read(1 << 24):
                breaks += block.count(b"\n")
        return breaks + 1

    def _csv_types(self) -> dict:
        import pyarrow as pa

        types = {}
        for name in self.wanted:
            kind = COLUMNS[name].kind
            source = self.mapping.source(name)
            if kind == "timestamp":
                continue  # inferred: an ISO timestamp or a number of seconds
            if kind in ("category", "bin") or name in self.mapping.categories:
                types[source] = pa.string()
            else:
                types[source] = pa.float64()
        return types

    def batches(self):
        import pyarrow as pa

        if self.fmt == "parquet":
            import pyarrow.parquet as pq

            try:
                # pre_buffer=False: Arrow's read-ahead would otherwise keep most of a large file in memory.
                parquet = pq.ParquetFile(self.path, pre_buffer=False)
                yield from parquet.iter_batches(batch_size=self.batch_rows, columns=self.sources)
            except (pa.ArrowInvalid, OSError) as error:
                raise TransactionLogError(f"{self.where}: row 0, column -: unreadable parquet: {_one_line(error)}") from None
            return
        import pyarrow.csv as pcsv

        types = self._csv_types()
        convert = pcsv.ConvertOptions(include_columns=self.sources, column_types=types, strings_can_be_null=True)
        try:  # the first block is read and converted at once
            reader = pcsv.open_csv(self.path, read_options=pcsv.ReadOptions(block_size=4 << 20), convert_options=convert)
        except pa.ArrowInvalid as error:
            raise self._csv_cell_error(error, types, 0) from None
        offset = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid as error:
                raise self._csv_cell_error(error, types, offset) from None
            offset += batch.num_rows
            yield batch

    def _csv_cell_error(self, error: Exception, types: dict, offset: int) -> TransactionLogError:
        """Find the row and column of a CSV value that did not convert (pyarrow names neither row nor value's row)."""
        message = _one_line(error)
        match = re.search(r"column #(\d+)", message)
        source = None
        if match:  # pyarrow numbers the file's columns, included or not, from 0
            index = int(match.group(1))
            header = _file_columns(self.path, "csv", self.where)
            source = header[index] if index < len(header) else None
        if source is None:
            return TransactionLogError(f"{self.where}: row {offset + 1}, column -: unreadable CSV: {message}")
        import pyarrow as pa
        import pyarrow.csv as pcsv

        as_text = pcsv.ConvertOptions(include_columns=[source], column_types={source: pa.string()})
        row = 0
        for batch in pcsv.open_csv(self.path, convert_options=as_text):
            for value in batch.column(0).to_pylist():
                row += 1
                if value is None or value == "":
                    continue
                try:
                    float(value)
                except ValueError:
                    return TransactionLogError(
                        f"{self.where}: row {row}, column {self._label(source)}: expected a number, got {value!r}"
                    )
        return TransactionLogError(f"{self.where}: row 0, column {source!r}: unreadable CSV: {message}")


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


def _convert(pa, array, column: Column, mapping: ColumnMapping, where: str, offset: int) -> np.ndarray:
    """One batch of one column as its compact numpy dtype, validated; the first bad cell raises."""
    import pyarrow.compute as pc

    name, kind = column.name, column.kind
    source = mapping.source(name)
    label = repr(source) if source == name else f"{source!r} (schema column {name!r})"

    def fail(index: int, what: str) -> TransactionLogError:
        return TransactionLogError(f"{where}: row {offset + index + 1}, column {label}: {what}")

    if name in mapping.defaults and array.null_count:
        default = mapping.defaults[name]
        if _is_text(pa, array.type) or pa.types.is_null(array.type):
            array = pc.fill_null(array.cast(pa.string()), str(default))
        else:
            array = pc.fill_null(array, pa.scalar(default).cast(array.type))
    if kind == "timestamp":
        return _hours_of_timestamps(pa, array, fail)
    if kind in ("category", "bin") or name in mapping.categories:
        return _category_codes(pa, array, column, mapping, fail)
    if pa.types.is_boolean(array.type):
        array = array.cast(pa.int8())
    if not (pa.types.is_integer(array.type) or pa.types.is_floating(array.type) or pa.types.is_null(array.type)):
        bad = 0
        if _is_text(pa, array.type):
            for i, value in enumerate(array.to_pylist()):
                try:
                    float(value)
                except (TypeError, ValueError):
                    bad = i
                    break
        raise fail(bad, f"expected a number, got {array.type} value {array[bad].as_py()!r}")
    if array.null_count:
        raise fail(_first(np.asarray(array.is_null())), "empty or NaN (no value)")
    values = np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False))
    nan = np.isnan(values)
    if nan.any():
        raise fail(_first(nan), "NaN (no value)")
    if not np.isfinite(values).all():
        raise fail(_first(~np.isfinite(values)), "infinite")
    if kind in ("amount", "count") and (values < 0).any():
        index = _first(values < 0)
        raise fail(index, f"negative ({values[index]:g}); must be >= 0")
    if kind == "amount" and (values > 1e9).any():
        index = _first(values > 1e9)
        raise fail(index, f"{values[index]:g} is implausibly large (more than $1e9)")
    if kind == "unit" and ((values < 0) | (values > 1)).any():
        index = _first((values < 0) | (values > 1))
        raise fail(index, f"{values[index]:g} is outside [0, 1]")
    if kind in ("label", "flag") and ((values != 0) & (values != 1)).any():
        index = _first((values != 0) & (values != 1))
        raise fail(index, f"{values[index]:g} is not a {'label' if kind == 'label' else 'flag'} in {{0, 1}}")
    if kind == "hour" and ((values < 0) | (values > 23) | (values != np.floor(values))).any():
        index = _first((values < 0) | (values > 23) | (values != np.floor(values)))
        raise fail(index, f"{values[index]:g} is not an hour (an integer 0-23)")
    return values.astype(_DTYPES[kind])


def _is_text(pa, type_) -> bool:
    return pa.types.is_string(type_) or pa.types.is_large_string(type_) or pa.types.is_dictionary(type_)


def _category_codes(pa, array, column: Column, mapping: ColumnMapping, fail) -> np.ndarray:
    """Codes of a categorical column (or a flag spelled as words), mapped by name; unknown values raise."""
    import pyarrow.compute as pc

    name = column.name
    if array.null_count:
        raise fail(_first(np.asarray(array.is_null())), "empty (no value)")
    text = array.cast(pa.string()) if not pa.types.is_dictionary(array.type) else array.dictionary_decode().cast(pa.string())
    encoded = pc.dictionary_encode(text)
    dictionary = encoded.dictionary.to_pylist()
    table = mapping.categories.get(name, {})
    codes = np.empty(len(dictionary), dtype=np.int16)
    for k, value in enumerate(dictionary):
        target = table.get(value, value)
        code = _schema_code(column, target)
        if code is None:
            index = _first(np.asarray(encoded.indices.to_numpy(zero_copy_only=False)) == k)
            known = sorted(map(str, table)) or list(_schema_values(column))
            raise fail(index, f"unknown category {value!r}; known: {', '.join(map(str, known))}")
        codes[k] = code
    return codes[np.asarray(encoded.indices.to_numpy(zero_copy_only=False))].astype(np.int8)


def _schema_values(column: Column) -> tuple:
    if column.kind == "category":
        return CATEGORY_NAMES[column.name]
    if column.kind == "bin":
        return tuple(range(NUM_BINS))
    return (0, 1)


def _schema_code(column: Column, value) -> int | None:
    """The schema's code for ``value`` (a name, or an integer as text), or None if unknown."""
    if column.kind == "category":
        names = CATEGORY_NAMES[column.name]
        return names.index(value) if value in names else None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    high = NUM_BINS - 1 if column.kind == "bin" else 1
    if number != int(number) or not 0 <= number <= high:
        return None
    return int(number)


def _hours_of_timestamps(pa, array, fail) -> np.ndarray:
    import pyarrow.compute as pc

    if array.null_count:
        raise fail(_first(np.asarray(array.is_null())), "empty (no timestamp)")
    if pa.types.is_timestamp(array.type):
        return np.asarray(pc.hour(array).to_numpy(zero_copy_only=False)).astype(np.int8)
    if pa.types.is_integer(array.type) or pa.types.is_floating(array.type):
        seconds = np.asarray(array.cast(pa.float64()).to_numpy(zero_copy_only=False))
        bad = ~np.isfinite(seconds)
        if bad.any():
            raise fail(_first(bad), "NaN or infinite timestamp")
        return (np.floor(seconds / 3600.0) % 24).astype(np.int8)
    if _is_text(pa, array.type):
        try:
            parsed = pc.cast(array.cast(pa.string()), pa.timestamp("s"))
        except pa.ArrowInvalid:
            values = array.to_pylist()
            import datetime

            for i, value in enumerate(values):
                try:
                    datetime.datetime.fromisoformat(value)
                except (TypeError, ValueError):
                    raise fail(i, f"expected an ISO 8601 timestamp or seconds, got {value!r}") from None
            raise fail(0, "unreadable timestamps") from None
        return np.asarray(pc.hour(parsed).to_numpy(zero_copy_only=False)).astype(np.int8)
    raise fail(0, f"expected a timestamp or seconds, got {array.type}")


# ----------------------------------------------------------------------------- replay
#: A recorded fraud row keeps its own amount, so no template amount shift applies (only its hidden signal is used).
_NO_AMOUNT_SHIFT = np.zeros(NUM_TEMPLATES)


@njit(cache=True)
def _build_replay(tx, rows, present, amount, velocity, segment, merchant, card_bin, tenure, flags, fraud,
                  template, score, has_score, noise, pass3_legit, issuer_legit, merchant_risk):  # fmt: skip
    """Fill a chunk's features and rows from gathered log rows (the log's counterpart of rules.build_transactions).

    The log's features are observed as they are (an organic fraud row already
    looks like fraud): only its template, for 3-D Secure and, without a risk
    score, the risk model's hidden signal, comes from the generator's mix.
    """
    steps, n = present.shape
    for s in range(steps):
        for i in range(n):
            r = rows[s, i]
            t = tx[s, i]
            seg, mer, bin_ = segment[s, i], merchant[s, i], card_bin[s, i]
            amt, vel = amount[s, i], velocity[s, i]
            international, new_device, geo = flags[s, i, 0], flags[s, i, 1], flags[s, i, 2]
            is_present = present[s, i]
            is_fraud = is_present and fraud[s, i] > 0
            if is_fraud:
                tmpl = template[s, i]
                _, _, _, _, _, hidden, pass3 = rules.fraud_attempt(tmpl, amt, vel, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, _NO_AMOUNT_SHIFT)
                issuer = 1.0 - rules.ISSUER_FRAUD_DECLINE
            else:
                tmpl, hidden, pass3, issuer = -1, 0.0, pass3_legit[seg], issuer_legit
            visible = rules.visible_logit(amt, vel, international, new_device, geo)
            if has_score:
                p = min(max(np.float64(score[s, i]), 1e-6), 1.0 - 1e-6)
                # What the score says beyond the visible features: the card's own risk, which a ring attempt keeps.
                rest = math.log(p / (1.0 - p)) - visible
                logit = rest + visible
            else:
                rest = rules.RISK_BIAS + rules.RISK_TENURE * tenure[s, i] + merchant_risk[mer] + noise[s, i]
                logit = rest + hidden + visible
            r[rules.C_AMOUNT], r[rules.C_VELOCITY], r[rules.C_SEGMENT], r[rules.C_BIN] = amt, vel, seg, bin_
            r[rules.C_FRAUD] = 1.0 if is_fraud else 0.0
            r[rules.C_TEMPLATE] = tmpl
            r[rules.C_PASS3DS], r[rules.C_ISSUER] = pass3, issuer
            r[rules.C_LOGIT_REST] = rest
            r[rules.C_PRESENT] = 1.0 if is_present else 0.0
            # rules' own feature writer, so a log's features are scaled exactly as generated ones are
            rules._write_features(t, amt, logit, vel, international, new_device, geo)
            if has_score:
                t[rules.TX_RISK] = score[s, i]  # the log's own score, as recorded
            t[rules.TX_TENURE] = tenure[s, i]
            t[rules.TX_SEGMENT + seg] = 1.0
            t[rules.TX_MERCHANT + mer] = 1.0
            t[rules.TX_BIN + bin_] = 1.0
            t[rules.TX_PAYMENT] = 1.0 if is_present else 0.0


def _draw_categorical(rng: np.random.Generator, shares: np.ndarray, shape, count: int) -> np.ndarray:
    return np.minimum(np.searchsorted(np.cumsum(shares), rng.random(shape), side="right"), count - 1)


def replay_chunk(
    rng: np.random.Generator,
    config,
    log: TransactionLog,
    num_envs: int,
    steps: int,
    first_step: int,
    start_hour: np.ndarray,
    window_start: np.ndarray,
    cursor: np.ndarray,
) -> gen.Chunk:
    """``steps`` steps for ``num_envs`` envs from the log; ``cursor`` (customers served so far) advances in place.

    Each env's customers are the log's rows ``window_start + cursor, ...`` in
    order (wrapping); an idle slot's profile (the card a ring attempt would
    use) is a log row drawn at random. Every call consumes the same amount of
    randomness for the same shape and log schema, whatever happened in the episode.
    """
    shape = (steps, num_envs)
    length = log.num_rows
    present = rng.random(shape) < config.customer_arrival_rate
    idle_rows = rng.integers(0, length, size=shape)
    # The k-th customer of an episode is the log row window_start + k.
    served_before = cursor[None, :] + np.cumsum(present, axis=0) - present
    clock_rows = (window_start[None, :] + served_before) % length
    cursor += present.sum(axis=0)
    index = np.where(present, clock_rows, idle_rows)
    tx, rows = _assemble(rng, config, log, index, present)
    uniforms = rng.random(shape + (rules.U_DIM,))
    if log.hour is not None:
        hours = log.hour[clock_rows].astype(np.int64)
    else:
        hours = (start_hour[None, :] + (first_step + np.arange(steps))[:, None] // config.steps_per_hour) % 24
    angle = hours * (2.0 * np.pi / 24.0)
    hour = np.stack([np.sin(angle), np.cos(angle)], axis=-1).astype(np.float32)
    return gen.Chunk(tx=tx, rows=rows, hour=hour, uniforms=uniforms)


def log_features(log: TransactionLog, config, index: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The router's features ``(len(index), TX_DIM)`` and chunk rows of log rows ``index``, each as a paying customer.

    ``seed`` only matters for columns the log lacks (their fillers are drawn).
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1, 1)
    tx, rows = _assemble(np.random.default_rng(seed), config, log, index, np.ones(index.shape, dtype=bool))
    return tx[:, 0], rows[:, 0]


def _assemble(rng: np.random.Generator, config, log: TransactionLog, index: np.ndarray, present: np.ndarray):
    """Gather log rows ``index`` (any shape), fill absent columns from the generator's model, build features."""
    shape = index.shape
    segment = log.segment[index].astype(np.int64) if log.segment is not None else _draw_categorical(
        rng, gen.SEGMENT_SHARES, shape, NUM_SEGMENTS)
    merchant = log.merchant[index].astype(np.int64) if log.merchant is not None else _draw_categorical(
        rng, gen.MERCHANT_SHARES, shape, len(MERCHANT_CATEGORIES))
    card_bin = log.card_bin[index].astype(np.int64) if log.card_bin is not None else rng.integers(0, NUM_BINS, size=shape)
    velocity = log.velocity[index].astype(np.float64) if log.velocity is not None else rng.poisson(
        gen.LEGIT_VELOCITY_MEAN, size=shape).astype(np.float64)
    travel = merchant == gen.TRAVEL
    model_p = {
        "international": lambda: np.where(travel, gen.TRAVEL_P_INTERNATIONAL, gen.P_INTERNATIONAL),
        "new_device": lambda: gen.SEGMENT_P_NEW_DEVICE[segment],
        "geo_mismatch": lambda: np.where(travel, gen.TRAVEL_P_GEO, gen.P_GEO_MISMATCH),
    }
    flags = np.empty(shape + (3,))
    for k, name in enumerate(FLAG_COLUMNS):
        flags[..., k] = log.flags[name][index] if name in log.flags else rng.random(shape) < model_p[name]()
    if log.tenure is not None:
        tenure = log.tenure[index]
    else:
        low, high = gen.SEGMENT_TENURE_LOW[segment], gen.SEGMENT_TENURE_HIGH[segment]
        tenure = (low + (high - low) * rng.random(shape)).astype(np.float32)
    has_score = log.risk_score is not None
    score = log.risk_score[index] if has_score else np.zeros(shape, dtype=np.float32)
    noise = np.zeros(shape) if has_score else rules.RISK_NOISE_STD * rng.standard_normal(shape)
    template = _draw_categorical(rng, BACKGROUND_MIX, shape, NUM_TEMPLATES)
    rows = np.zeros(shape + (rules.C_DIM,))  # zeros, not empty: a column the replay does not write must not be garbage
    tx = np.zeros(shape + (TX_DIM,), dtype=np.float32)
    pass3_legit = 1.0 - np.asarray(config.threeds_abandon, dtype=np.float64)
    _build_replay(
        tx, rows, present, log.amount[index], velocity, segment, merchant, card_bin, tenure,
        flags, log.is_fraud[index], template, score, has_score, noise, pass3_legit,
        1.0 - config.legit_issuer_decline, gen.MERCHANT_RISK,
    )  # fmt: skip
    # A churned customer's lost value, by segment, as the generator writes it (no look-alikes with a log).
    rows[..., rules.C_VALUE] = np.asarray(config.customer_value)[segment]
    return tx, rows
