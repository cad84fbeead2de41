"""Hyperparameters of one training or evaluation phase, merged from defaults < task < preset < CLI."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from harness.errors import ConfigError, did_you_mean, shown


def _range(default: Any, low: float, high: float, low_ok: bool = True) -> Any:
    """A hyperparameter with its declared range: ``low`` (included when ``low_ok``) to ``high``."""
    return field(default=default, metadata={"range": (low, high, low_ok)})


@dataclass(frozen=True)
class Hyperparams:
    learning_rate: float = _range(2e-5, 0, 1e30, low_ok=False)  # a divergence test needs huge ones
    epochs: float = _range(2.0, 0, 1000, low_ok=False)
    batch_size: int = _range(32, 1, 65536)
    eval_batch_size: int = _range(128, 1, 65536)
    grad_accum: int = _range(1, 1, 65536)
    warmup_ratio: float = _range(0.1, 0, 1)
    weight_decay: float = _range(0.01, 0, 1)
    max_grad_norm: float = _range(1.0, 0, 1e6)                # 0 = no clipping
    max_length: int = _range(128, 8, 1_000_000)
    #: cap on padded tokens per evaluation batch (token-budget batching); 0 = use eval_batch_size only
    eval_token_budget: int = _range(16384, 0, 1e9)
    #: "auto" = bf16 autocast on GPUs that support it, fp32 on CPU; or "no" / "bf16" / "fp16"
    mixed_precision: str = field(default="auto", metadata={"choices": ("auto", "no", "bf16", "fp16")})
    #: train the heads only, the encoder stays as it started (a target checkpoint is then saved as its
    #: head plus a reference to that encoder). Left out of ``as_dict`` while false, so the content keys
    #: of runs that never set it stay the same.
    freeze_encoder: bool = field(default=False, metadata={"omit_default": True})

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def merged(self, overrides: dict[str, Any] | None, where: str = "hparams") -> "Hyperparams":
        """A copy with ``overrides`` applied; unknown keys, wrong types and values outside the declared
        range are ConfigErrors of one line."""
        if not overrides:
            return self
        values = asdict(self)
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
        declared = {f.name: f.metadata for f in fields(self)}
        for key, value in overrides.items():
            if key not in values:
                raise ConfigError(f"{where}.{key}: unknown hyperparameter{did_you_mean(key, values)} "
                                  f"(allowed: {', '.join(values)})")
            kind = types[key]
            try:
                values[key] = kind(value) if not isinstance(value, bool) or kind is bool else None
            except (TypeError, ValueError, OverflowError):
                values[key] = None
            if kind is int and isinstance(value, float) and values[key] is not None and value != values[key]:
                values[key] = None  # 1.5 is not a batch size
            if kind is bool and not isinstance(value, bool):
                values[key] = None  # "no" is not false
            if values[key] is None:
                raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {shown(value)}")
            _check_range(values[key], value, declared[key], f"{where}.{key}")
        return Hyperparams(**values)

    def as_dict(self) -> dict[str, Any]:
        """Every value, except those marked ``omit_default`` while they hold their default."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if not (f.metadata.get("omit_default") and getattr(self, f.name) == f.default)}


def _check_range(value: Any, given: Any, declared: Any, where: str) -> None:
    choices = declared.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: expected one of {', '.join(choices)}, got {shown(given)}")
    if "range" in declared and not in_range(value, *declared["range"]):
        raise ConfigError(f"{where}: {range_text(*declared['range'])}, got {shown(given)}")


def in_range(value: float, low: float, high: float, low_ok: bool) -> bool:
    return math.isfinite(value) and (low < value or (low_ok and value == low)) and value <= high


def range_text(low: float, high: float, low_ok: bool) -> str:
    def number(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"
    return f"must be {'>=' if low_ok else '>'} {number(low)} and <= {number(high)}"
