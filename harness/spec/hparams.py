"""Hyperparameters of one training or evaluation phase, merged from defaults < task < preset < CLI."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from harness.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class Hyperparams:
    learning_rate: float = 2e-5
    epochs: float = 2.0
    batch_size: int = 32
    eval_batch_size: int = 128
    grad_accum: int = 1
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    max_length: int = 128
    #: cap on padded tokens per evaluation batch (token-budget batching); 0 = use eval_batch_size only
    eval_token_budget: int = 16384
    #: "auto" = bf16 autocast on GPUs that support it, fp32 on CPU; or "no" / "bf16" / "fp16"
    mixed_precision: str = "auto"

    @classmethod
    def names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def merged(self, overrides: dict[str, Any] | None, where: str = "hparams") -> "Hyperparams":
        """A copy with ``overrides`` applied; unknown keys and wrong types are ConfigErrors."""
        if not overrides:
            return self
        values = asdict(self)
        types = {f.name: type(getattr(self, f.name)) for f in fields(self)}
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
            if kind in (int, float) and values[key] is not None and values[key] < 0:
                raise ConfigError(f"{where}.{key}: must not be negative, got {value!r}")
            if values[key] is None:
                raise ConfigError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
        return Hyperparams(**values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
