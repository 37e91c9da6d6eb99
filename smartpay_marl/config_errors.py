"""Readable configuration errors: pydantic's validation errors as one line, and YAML files read with clear errors.

Every config model (the game's, the training run's, the server's) reports a bad
value the same way: the dotted field, what is wrong and what is allowed, with a
"did you mean" for a mistyped key. Kept apart from :mod:`smartpay_marl.config`
so that modules the game config itself uses (the transaction-log reader) can
format their errors without importing the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError


def validation_message(error: ValidationError, prefix: tuple = ()) -> str:
    """Pydantic's errors as one line: each names the field's dotted path, what is wrong and what is allowed.

    An unknown key gets a "did you mean" for a near miss (else the allowed
    keys); a field whose own validator re-raised another model's validation
    error (a config nested as a plain dict, like a training config's ``game``)
    is reported by the inner error's fields, e.g. ``game.difficulty``, instead
    of repeating the whole nested message and its input.
    """
    log_error = transaction_log_error(error)
    if log_error is not None:
        raise log_error  # a bad transaction log is reported as it is: file, row, column
    model = _model_named(error.title)
    parts = []
    for e in error.errors():
        loc = prefix + tuple(e["loc"])
        path = ".".join(str(p) for p in loc) or "config"
        inner = _nested_validation_error(e)
        if inner is not None:
            parts.append(validation_message(inner, loc))
        elif e["type"] == "extra_forbidden":
            # pydantic's own words kept: callers (and their tests) match on them.
            parts.append(f"{path}: {e['msg']} (unknown field{_key_hint(model, tuple(e['loc']))})")
        elif e["type"] == "value_error":
            parts.append(f"{path}: {_strip_value_error(e['msg'])}")
        else:
            parts.append(f"{path}: {e['msg']}{_got(e.get('input'))}")
    return "; ".join(parts)


def transaction_log_error(error: ValidationError) -> ValueError | None:
    """The ``TransactionLogError`` behind a validation error, if a bad transaction log caused it.

    Such an error already names the file, row and column; callers re-raise it as it is
    instead of wrapping it in a field path (checked by name: the log module is not imported here).
    """
    for e in error.errors():
        cause = (e.get("ctx") or {}).get("error")
        if cause is not None and transaction_log_error_type(cause):
            return cause
    return None


def _got(value: Any) -> str:
    # A mapping or list input is the whole sub-config; repeating it buries the message.
    return "" if isinstance(value, (dict, list)) else f" (got {value!r})"


def _strip_value_error(message: str) -> str:
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _nested_validation_error(e: dict[str, Any]) -> ValidationError | None:
    """The validation error of another model that a field validator turned into a ValueError, if any."""
    cause = (e.get("ctx") or {}).get("error")
    seen = 0
    while cause is not None and seen < 5:  # follow ``raise ValueError(...) from None`` chains a few links deep
        if isinstance(cause, ValidationError):
            return cause
        cause = cause.__cause__ or cause.__context__
        seen += 1
    return None


def _model_named(title: str) -> type[BaseModel] | None:
    """The pydantic model class called ``title`` (ValidationError keeps only the name)."""
    pending = list(BaseModel.__subclasses__())
    while pending:
        cls = pending.pop()
        if cls.__name__ == title:
            return cls
        pending.extend(cls.__subclasses__())
    return None


def _key_hint(model: type[BaseModel] | None, loc: tuple) -> str:
    """"; did you mean 'x'?" for a near miss, else the allowed keys, of the model at ``loc[:-1]``."""
    import difflib

    for part in loc[:-1]:
        if model is None:
            return ""
        field = model.model_fields.get(str(part)) or next(
            (f for f in model.model_fields.values() if f.alias == part), None
        )
        model = _model_of(field.annotation) if field is not None else None
    if model is None:
        return ""
    allowed = sorted(f.alias or name for name, f in model.model_fields.items())
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f"; allowed: {', '.join(allowed)}"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model in a field's annotation (``Model`` or ``Model | None``), if any."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def read_yaml_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping in a YAML file; one-line errors naming the file for a missing file, bad YAML or a non-mapping."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a directory; give a YAML file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path} (relative paths start at {Path.cwd()})")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ValueError(f"{path}: not valid YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a YAML mapping of config fields, got {type(data).__name__}")
    return data


def transaction_log_error_type(error: BaseException) -> bool:
    """True for a ``TransactionLogError``, which wrappers pass on unchanged (it names its own file)."""
    return any(cls.__name__ == "TransactionLogError" for cls in type(error).__mro__)
