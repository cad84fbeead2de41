"""Loading pretrained encoders (hub id, local path or alias) and saving/loading encoder checkpoints."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.errors import HarnessError
from harness.files import share_like_umask
from harness.formats.base import Head, TaskModel


@dataclass
class LoadedModel:
    """An encoder, its tokenizer, the trained heads by task name, and where it all came from."""

    encoder: Any          # a transformers model: an nn.Module with .config and save_pretrained
    tokenizer: Any
    device: torch.device
    provenance: dict[str, Any] = field(default_factory=dict)
    heads: dict[str, Head] = field(default_factory=dict)
    #: vision tower + projection of an image-text model (harness.engine.fusion.Fusion), else None
    fusion: Any = None

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    @property
    def num_layers(self) -> int:
        return int(self.encoder.config.num_hidden_layers)

    def task_model(self, *task_names: str) -> TaskModel:
        encoder = self.encoder if self.fusion is None else self.fusion.bind(self.encoder)
        return TaskModel(encoder, {name: self.heads[name] for name in task_names}).to(self.device)

    # -- checkpoints -------------------------------------------------------------------------
    def save(self, directory: Path, heads: tuple[str, ...] = (), meta: dict[str, Any] | None = None,
             encoder_ref: dict[str, Any] | None = None) -> None:
        """Write encoder, tokenizer, selected heads and ``meta.json`` atomically (temp dir + rename).
        With ``encoder_ref`` (an encoder left as it started: where it comes from), the heads and
        ``encoder-ref.json`` stand in for the encoder, which is not written again."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            if encoder_ref is not None:
                if self.fusion is not None:
                    raise ValueError("a model with a vision tower is saved whole")
                (tmp / ENCODER_REF).write_text(json.dumps(encoder_ref, indent=1, sort_keys=True))
            else:
                self.encoder.save_pretrained(tmp / "encoder", safe_serialization=True)
                self.tokenizer.save_pretrained(tmp / "encoder")
            if self.fusion is not None:  # beside the plain text encoder
                self.fusion.save(tmp / "vision")
            for name in heads:
                torch.save(self.heads[name].state_dict(), tmp / f"head-{name}.pt")
            files = _fsync_tree(tmp)
            (tmp / "meta.json").write_text(json.dumps({**(meta or {}), "heads": list(heads), "files": files},
                                                      indent=1, sort_keys=True))
            _fsync_tree(tmp, only="meta.json")
            share_like_umask(tmp)
            if directory.exists():
                shutil.rmtree(directory)
            os.replace(tmp, directory)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @staticmethod
    def is_checkpoint(directory: Path) -> bool:
        directory = Path(directory)
        return (directory / "meta.json").exists() and ((directory / "encoder").is_dir()
                                                       or (directory / ENCODER_REF).is_file())


#: in a checkpoint saved without its encoder: where the (unchanged) encoder is
ENCODER_REF = "encoder-ref.json"


def encoder_ref(directory: Path) -> dict[str, Any] | None:
    """The encoder reference of a checkpoint saved as heads only, or None (the encoder is inside)."""
    path = Path(directory) / ENCODER_REF
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def encoder_files(checkpoint: Path) -> dict[str, Any] | None:
    """Sizes and SHA-256 sums of a checkpoint's encoder files, from its meta.json (what a head-only
    target checkpoint was trained against)."""
    try:
        files = json.loads((Path(checkpoint) / "meta.json").read_text(encoding="utf-8")).get("files") or {}
    except (OSError, ValueError, AttributeError):
        return None
    return {name: value for name, value in files.items() if name.startswith("encoder/")}


def reference_problem(directory: Path) -> str | None:
    """Why a head-only checkpoint's encoder cannot be found (its intermediate checkpoint is gone, or
    was saved again with other weights), per the meta files; None when it can, or when the
    checkpoint holds its encoder."""
    directory = Path(directory)
    try:
        ref = encoder_ref(directory)
    except (OSError, ValueError) as exc:
        return f"{ENCODER_REF} unreadable ({type(exc).__name__})"
    if ref is None or "checkpoint" not in ref:
        return None
    source = directory.parent / ref["checkpoint"]
    if not LoadedModel.is_checkpoint(source):
        return f"its encoder, checkpoint {ref['checkpoint']}, is gone"
    if encoder_files(source) != ref.get("files"):
        return f"its encoder, checkpoint {ref['checkpoint']}, was saved again with other weights"
    return None


def encoder_source(directory: Path, _seen: tuple[Path, ...] = ()) -> tuple[str, str | None] | None:
    """What to load as the encoder of a checkpoint directory: ``(its encoder/ folder, None)``; for a
    checkpoint saved as heads only, where its ``encoder-ref.json`` points: the encoder of the
    checkpoint it names (whose files must match the sums the reference recorded) or the base model
    ``(id or path, revision)``. None: the directory is not a checkpoint. A reference that cannot be
    followed is a one-line :class:`HarnessError` naming the checkpoint."""
    directory = Path(directory)
    problem = reference_problem(directory)
    if problem is None:
        ref = encoder_ref(directory)
        if ref is None:
            encoder = directory / "encoder"
            return (str(encoder), None) if (encoder / "config.json").is_file() else None
        if isinstance(ref, dict) and "checkpoint" not in ref and "model" in ref:
            return str(ref["model"]), ref.get("revision")
        if not isinstance(ref, dict) or "checkpoint" not in ref:
            raise HarnessError(f"cannot load checkpoint {directory}: {ENCODER_REF} names neither a checkpoint "
                               f"nor a model")
        source = directory.parent / ref["checkpoint"]
        changed = _files_problem(source, ref.get("files") or {})
        seen = (*_seen, directory.resolve())
        if changed is None and source.resolve() not in seen:
            return encoder_source(source, seen)
        problem = (f"its encoder, checkpoint {ref['checkpoint']}, does not match {ENCODER_REF}: {changed}"
                   if changed else f"{ENCODER_REF} leads back to checkpoint {ref['checkpoint']}")
    raise HarnessError(f"cannot load checkpoint {directory}: {problem}")


def checkpoint_encoder(directory: Path) -> str | None:
    """A harness checkpoint given as a model (``--model runs/x/checkpoints/intermediate-...``): what
    to load as its encoder (its ``encoder/`` folder, or where a head-only one's reference points),
    after checking its files against meta.json; None when ``directory`` is not a harness checkpoint.
    A damaged checkpoint or a reference that cannot be followed is a one-line error."""
    directory = Path(directory).expanduser()
    if not LoadedModel.is_checkpoint(directory):
        return None
    found = encoder_source(directory)
    if found is None:
        return None
    problem = checkpoint_problem(directory)
    if problem is not None:
        raise HarnessError(f"cannot load checkpoint {directory}: {problem}")
    return found[0]


def checkpoint_problem(directory: Path) -> str | None:
    """Why a saved checkpoint cannot be trusted (unreadable meta.json, a file missing, truncated or
    changed since its save, per the sizes and SHA-256 sums in meta.json), or None when it is intact."""
    directory = Path(directory)
    try:
        meta = json.loads((directory / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"meta.json unreadable ({type(exc).__name__})"
    files = meta.get("files") if isinstance(meta, dict) else None
    if not isinstance(files, dict):
        return None if isinstance(meta, dict) else "meta.json is not an object"  # saved before checksums
    return _files_problem(directory, files)


def _files_problem(root: Path, files: dict[str, Any]) -> str | None:
    """The first of ``files`` (relative path -> size and SHA-256) missing or different under ``root``."""
    for name, expected in files.items():
        path = root / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected.get("size") or _sha256(path) != expected.get("sha256"):
            return f"{name} is truncated or changed since it was saved"
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_tree(root: Path, only: str | None = None) -> dict[str, dict[str, Any]]:
    """fsync every file under ``root`` (or just ``only``); their sizes and SHA-256 sums by relative path."""
    files = {}
    for path in sorted(root.rglob("*") if only is None else [root / only]):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
            files[path.relative_to(root).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    return files


def load_head_state(directory: Path, name: str) -> dict[str, torch.Tensor] | None:
    path = Path(directory) / f"head-{name}.pt"
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def load_pretrained(model: str, device: torch.device, revision: str | None = None) -> LoadedModel:
    """``AutoModel``/``AutoTokenizer`` from a hub id or a local directory."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    local = Path(model).expanduser()
    if local.exists():
        if not (local / "config.json").exists():
            raise HarnessError(f"model path '{model}' has no config.json: not a Hugging Face model directory")
        source = str(local.resolve())
    else:
        source = model
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()  # the harness shows its own progress
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, revision=revision)
        encoder = AutoModel.from_pretrained(source, revision=revision, attn_implementation="sdpa",
                                            add_pooling_layer=False)
    except TypeError:  # encoders without a pooling layer argument
        encoder = AutoModel.from_pretrained(source, revision=revision, attn_implementation="sdpa")
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise HarnessError(f"cannot load model '{model}': {first}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    encoder.to(device)
    commit = getattr(encoder.config, "_commit_hash", None)
    provenance = {"model": model, "source": source, "revision": revision or commit,
                  "model_type": encoder.config.model_type,
                  "num_parameters": sum(p.numel() for p in encoder.parameters()),
                  "num_layers": int(encoder.config.num_hidden_layers),
                  "hidden_size": int(encoder.config.hidden_size)}
    return LoadedModel(encoder=encoder, tokenizer=tokenizer, device=device, provenance=provenance)
