"""The variants a benchmark runs a task model as: torch fp32, torch dynamic int8, bf16/fp16 weights,
fp32 weights under bf16/fp16 autocast, ONNX Runtime fp32 and int8. Each becomes a :class:`Runner`:
encoder inputs in, logits (numpy) out, plus what it weighs (bytes per dtype, bytes serialised) and
which API built it. A runner's step runs through the batched engine evaluation uses
(:class:`harness.engine.batches.Engine`: device transfer, autocast policy, one host copy). The weight
variants fix the precision, so no autocast is added on top (``mixed_precision="no"``); the autocast
variants (``autocast-bf16``, ``autocast-fp16``) are what evaluation itself runs on a GPU under
``--hparam mixed_precision=auto|bf16|fp16``, and exist only where the engine's policy applies them.

Dynamic int8 in torch is feature-detected: ``torch.ao.quantization.quantize_dynamic`` is deprecated
but still present in torch 2.13 and is the one with fast CPU kernels (fbgemm/x86), so it is used on
CPU while it exists; torchao's ``quantize_(model, Int8DynamicActivationInt8WeightConfig())`` (its
replacement, ``pip install torchao``) is used on GPU or once torch drops the old path. Which one ran
is recorded in the runner's ``info["api"]``.

ONNX export goes through :class:`NamedInputs`, a thin wrapper whose ``forward`` takes the encoder
inputs by name: exporting the task model (or a ``BertModel``) with positional tensors fails on
current transformers. The exporter is torch's current one (``dynamo=True``, needs onnxscript) when
onnxscript is installed, the TorchScript one otherwise. ONNX int8 is onnxruntime's dynamic
quantization of the exported fp32 graph (int8 weights, activations quantized per batch).
"""
from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from harness.engine.batches import Engine, Step, precision_policy
from harness.errors import HarnessError

VARIANTS = ("fp32", "int8-dynamic", "bf16", "fp16", "autocast-bf16", "autocast-fp16", "onnx-fp32", "onnx-int8")
HALF = {"bf16": torch.bfloat16, "fp16": torch.float16}
AUTOCAST = {"autocast-bf16": "bf16", "autocast-fp16": "fp16"}


@dataclass
class Runner:
    """One way of running a task model: ``runner(batch) -> logits`` (numpy, float32). Built by
    :meth:`through`, ``engine`` and ``step`` are the engine and batch step behind ``call``."""

    variant: str
    call: Callable[[dict[str, torch.Tensor]], np.ndarray]
    device: torch.device  # where its input tensors are run
    info: dict[str, Any] = field(default_factory=dict)  # backend, api, dtype_bytes, serialized_bytes
    engine: Engine | None = None
    step: Step | None = None

    def __call__(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        return self.call(batch)

    @classmethod
    def through(cls, variant: str, engine: Engine, step: Step, info: dict[str, Any]) -> "Runner":
        """A runner whose call is one batch through ``engine`` (what evaluation runs per batch)."""
        def call(batch: dict[str, torch.Tensor]) -> np.ndarray:
            return engine.run_batch(step, batch)

        return cls(variant, call, engine.device, {**info, "mixed_precision": engine.mixed_precision}, engine, step)


def dtype_bytes(tensors: Any, into: dict[str, int] | None = None) -> dict[str, int]:
    """Bytes per dtype of the tensors in a state dict (packed int8 weights and tensor subclasses
    such as torchao's are opened up to the tensors that hold their data)."""
    into = {} if into is None else into
    if isinstance(tensors, dict):
        for value in tensors.values():
            dtype_bytes(value, into)
    elif isinstance(tensors, (tuple, list)):
        for value in tensors:
            dtype_bytes(value, into)
    elif isinstance(tensors, torch.Tensor):
        if hasattr(tensors, "__tensor_flatten__"):
            names, _ = tensors.__tensor_flatten__()
            return dtype_bytes([getattr(tensors, name) for name in names], into)
        name = str(tensors.dtype).replace("torch.", "")
        into[name] = into.get(name, 0) + tensors.numel() * tensors.element_size()
    return into


def serialized_bytes(module: nn.Module) -> int | None:
    """Size of ``torch.save(module.state_dict())``: what this variant takes on disk."""
    buffer = io.BytesIO()
    try:
        torch.save(module.state_dict(), buffer)
    except Exception:  # noqa: BLE001 - a state dict torch cannot pickle has no size to report
        return None
    return buffer.getbuffer().nbytes


def torch_runner(variant: str, module: nn.Module, task: str, device: torch.device, api: str,
                 mixed_precision: str = "no") -> Runner:
    module.eval()

    def step(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return module(batch, task)["logits"].float()

    info = {"backend": "torch", "api": api, "dtype_bytes": dtype_bytes(module.state_dict()),
            "serialized_bytes": serialized_bytes(module)}
    return Runner.through(variant, Engine(device, mixed_precision), step, info)


def dynamic_int8(module: nn.Module, device: torch.device) -> tuple[nn.Module, str, torch.device]:
    """(int8 copy of ``module``, API used, device it runs on): see the module docstring."""
    legacy = getattr(getattr(torch, "ao", None) and torch.ao.quantization, "quantize_dynamic", None)
    if device.type == "cpu" and legacy is not None and torch.backends.quantized.engine != "none":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantized = legacy(copy.deepcopy(module).cpu(), {nn.Linear}, dtype=torch.qint8)
        return quantized, "torch.ao.quantization.quantize_dynamic", torch.device("cpu")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from torchao.quantization import Int8DynamicActivationInt8WeightConfig, quantize_
    except ImportError:
        raise HarnessError("variant 'int8-dynamic' needs torch's dynamic quantization (CPU) or torchao "
                           "(pip install torchao)") from None
    quantized = copy.deepcopy(module)
    quantize_(quantized, Int8DynamicActivationInt8WeightConfig())
    return quantized, "torchao.quantization.quantize_(Int8DynamicActivationInt8WeightConfig)", device


class NamedInputs(nn.Module):
    """``forward(input_ids, attention_mask, token_type_ids=None) -> logits`` of one task head."""

    def __init__(self, task_model: nn.Module, task: str):
        super().__init__()
        self.task_model, self.task = task_model, task

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            batch["token_type_ids"] = token_type_ids
        return self.task_model(batch, self.task)["logits"]


def _require_onnx() -> Any:
    try:
        import onnx  # noqa: F401 - the exporter needs it
        import onnxruntime
    except ImportError:
        raise HarnessError("ONNX variants need onnxruntime and onnx: pip install 'xstilts-harness[onnx]'") from None
    return onnxruntime


def export_onnx(task_model: nn.Module, task: str, example: dict[str, torch.Tensor], path: Path) -> str:
    """Export ``task_model``'s ``task`` logits to ``path`` (batch and length dynamic); returns the exporter used."""
    _require_onnx()
    wrapper = NamedInputs(copy.deepcopy(task_model).cpu().float().eval(), task)
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in example]
    inputs: dict[str, Any] = {n: example[n].cpu() for n in names}
    try:
        import onnxscript  # noqa: F401 - required by the current exporter
        dynamo = True
    except ImportError:
        dynamo = False
    axes: dict[str, Any]
    if dynamo:
        batch, length = torch.export.Dim("batch"), torch.export.Dim("length")
        axes = {"dynamic_shapes": {n: {0: batch, 1: length} for n in names}}
    else:
        axes = {"dynamic_axes": {**{n: {0: "batch", 1: "length"} for n in names}, "logits": {0: "batch"}}}
    quiet = logging.getLogger("torch")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapper, (), str(path), kwargs=inputs, input_names=names, output_names=["logits"],
                              dynamo=dynamo, verbose=False, **axes)
    finally:
        quiet.setLevel(level)
    return "torch.onnx.export(dynamo=True)" if dynamo else "torch.onnx.export(dynamo=False)"


def onnx_dtype_bytes(path: Path) -> dict[str, int]:
    """Bytes per dtype of an ONNX graph's initializers (its weights)."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    sizes: dict[str, int] = {}
    for init in model.graph.initializer:
        dtype = onnx.helper.tensor_dtype_to_np_dtype(init.data_type)
        sizes[dtype.name] = sizes.get(dtype.name, 0) + int(np.prod(init.dims, dtype=np.int64)) * dtype.itemsize
    return sizes


def onnx_runner(variant: str, path: Path, device: torch.device, api: str) -> Runner:
    ort = _require_onnx()
    providers = ["CPUExecutionProvider"]
    if device.type == "cuda":
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise HarnessError("ONNX variants on a GPU need onnxruntime-gpu (CUDAExecutionProvider)")
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # the same threads as the torch variants
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=providers)
    names = [i.name for i in session.get_inputs()]

    def step(batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = session.run(None, {n: batch[n].numpy() for n in names})[0]
        return torch.from_numpy(np.asarray(logits, dtype=np.float32))

    files = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]  # the graph + external data
    info = {"backend": "onnxruntime", "api": api, "providers": providers[:1],
            "dtype_bytes": onnx_dtype_bytes(path), "serialized_bytes": sum(p.stat().st_size for p in files)}
    # inputs go to onnxruntime from host memory (its CUDA provider copies them itself)
    return Runner.through(variant, Engine(torch.device("cpu"), "no"), step, info)


def build(variant: str, task_model: nn.Module, task: str, device: torch.device, example: dict[str, torch.Tensor],
          workdir: Path) -> Runner:
    """The runner of ``variant`` for ``task_model`` (fp32, on ``device``); ``example`` is a small
    batch for export; ONNX files are written under ``workdir``."""
    if variant == "fp32":
        return torch_runner(variant, task_model, task, device, "torch eager fp32")
    if variant == "int8-dynamic":
        quantized, api, where = dynamic_int8(task_model, device)
        return torch_runner(variant, quantized, task, where, api)
    if variant in HALF:
        return torch_runner(variant, copy.deepcopy(task_model).to(HALF[variant]), task, device,
                            f"torch eager, {variant} weights")
    if variant in AUTOCAST:
        wanted = AUTOCAST[variant]
        if precision_policy(device, wanted) != wanted:
            raise HarnessError(f"variant '{variant}' is what evaluation runs on a GPU with {wanted} support "
                               f"(fp32 weights under {wanted} autocast); on {device} evaluation runs fp32: "
                               f"compare 'fp32' (or '{wanted}' weights) there")
        return torch_runner(variant, task_model, task, device, f"torch eager, fp32 weights, {wanted} autocast",
                            mixed_precision=wanted)
    if variant in ("onnx-fp32", "onnx-int8"):
        workdir.mkdir(parents=True, exist_ok=True)
        fp32 = workdir / "model.onnx"
        exporter = export_onnx(task_model, task, example, fp32) if not fp32.exists() else "reused export"
        if variant == "onnx-fp32":
            return onnx_runner(variant, fp32, device, exporter)
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = workdir / "model-int8.onnx"
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)  # onnxruntime logs a pre-processing hint on the root logger
        try:
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
        return onnx_runner(variant, int8, device, "onnxruntime.quantization.quantize_dynamic (QInt8)")
    raise HarnessError(f"unknown variant '{variant}' (known: {', '.join(VARIANTS)})")
