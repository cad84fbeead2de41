"""Hostile or unlucky input: no code runs from the output directory, damaged files heal, a signal or
a full disk stops a run cleanly, every bad value is a one-line error, plugins are blamed by name.

The numbers in the section titles are those of the hardening list in the README's reliability section.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from harness.results.records import read_records, validate_record
from harness.spec.config import builtin_plugins_dir
from test_bad_input import assert_one_line_fatal as one_error_line

SAMPLES = builtin_plugins_dir() / "samples"
ROOT = Path(__file__).resolve().parent.parent


def base_args(model: Path, out: Path, *extra) -> list:
    return ["eval", "--model", model, "--intermediate", "mnli", "--targets", "xnli", "-l", "xnli=en,de",
            "--limit", "8", "--hparam", "epochs=1", "--hparam", "batch_size=8", "--data", "samples",
            "--device", "cpu", "-o", out, *extra]


def plugin_file(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def results(out: Path) -> list[dict]:
    return [r for r in read_records(out / "results.jsonl") if r["type"] == "result"]


def errors(out: Path) -> list[dict]:
    return [r for r in read_records(out / "results.jsonl") if r["type"] == "error"]


def metrics_by_cell(out: Path) -> dict[tuple[str, str], dict]:
    return {(r["task"], r["language"]): r["metrics"] for r in results(out)}


@pytest.fixture(scope="module")
def base_run(tiny_model_path, module_cli) -> Path:
    out = module_cli.out
    old = os.umask(0o022)
    try:
        result = module_cli(*base_args(tiny_model_path, out))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    assert len(results(out)) == 2
    return out


@pytest.fixture
def run_dir(base_run, harness_cli) -> Path:
    out = harness_cli.out
    shutil.copytree(base_run, out, symlinks=True)
    return out


def checkpoint(out: Path, kind: str) -> Path:
    [found] = [p for p in (out / "checkpoints").iterdir() if p.name.startswith(kind) and p.name.count(".") == 0]
    return found


# -- 1. no code from the output directory ----------------------------------------------------------

class Planted:
    def __reduce__(self):
        return (exec, (f"open({str(MARKER)!r}, 'w').write('ran')",))


MARKER = Path(os.environ.get("TMPDIR", "/tmp")) / f"harness-planted-{os.getpid()}"


def _sst2(tiny_model_path):
    from harness.engine.modeling import load_pretrained
    from harness.run.data import load_examples
    from harness.spec.registry import build_registry

    registry = build_registry()
    task = registry.task("sst2")
    examples = {"sst2": load_examples(registry.plugins, task, "train", "en", source="samples", limit=16)}
    return load_pretrained(str(tiny_model_path), torch.device("cpu")), task, examples


@pytest.mark.parametrize("content", ["pickle", "empty", "truncated"])
def test_planted_or_damaged_training_state_never_runs_and_restarts_the_phase(content, tiny_model_path, tmp_path):
    from harness.engine.training import Reporter, train_model
    from harness.spec.hparams import Hyperparams

    state = tmp_path / "state"
    state.mkdir()
    MARKER.unlink(missing_ok=True)
    if content == "pickle":
        torch.save({"fingerprint": Planted()}, state / "train-state.pt")
    elif content == "empty":
        (state / "train-state.pt").write_bytes(b"")
    else:
        torch.save({"model": torch.zeros(1000)}, state / "train-state.pt")
        data = (state / "train-state.pt").read_bytes()
        (state / "train-state.pt").write_bytes(data[: len(data) // 2])
    model, task, examples = _sst2(tiny_model_path)
    logs: list[str] = []
    stats = train_model(model, [task], examples, Hyperparams(batch_size=4, epochs=1), seed=1,
                        reporter=Reporter(logs.append), state_dir=state, save_every_s=1e9)
    assert not MARKER.exists(), "a pickle planted in the output directory ran"
    assert stats["steps"] == 4
    warned = [line for line in logs if "damaged or unsafe" in line]
    assert len(warned) == 1 and str(state / "train-state.pt") in warned[0] and "restarts" in warned[0]
    assert not any("resuming" in line for line in logs)


# -- 2. paths: names, symlinks, modes ----------------------------------------------------------------

def test_a_language_code_with_dot_dot_cannot_write_outside_the_output_dir(harness_cli, tiny_model_path, tmp_path):
    tasks = tmp_path / "evil.yaml"
    tasks.write_text("tasks:\n  tatoeba:\n    languages: ['../../../escaped']\n")
    result = harness_cli("eval", "--model", tiny_model_path, "--targets", "tatoeba", "--log-samples",
                         "--tasks-file", tasks, "--data", "samples", "-o", tmp_path / "run" / "out")
    one_error_line(result, "language of task 'tatoeba'", "'../../../escaped'", "cannot be used in a file name")
    assert not list(tmp_path.rglob("*escaped*"))


@pytest.mark.parametrize("name", ["results.jsonl", ".lock"])
def test_a_planted_symlink_is_not_followed(name, harness_cli, run_dir, tiny_model_path, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n")
    target = run_dir / name
    target.unlink(missing_ok=True)
    target.symlink_to(victim)
    result = harness_cli(*base_args(tiny_model_path, run_dir))
    one_error_line(result, "symbolic link", str(target))
    assert victim.read_text() == "precious\n"


def test_checkpoints_and_samples_follow_the_umask(harness_cli, run_dir, tiny_model_path):
    old = os.umask(0o022)
    try:
        result = harness_cli(*base_args(tiny_model_path, run_dir, "--log-samples"))
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    target = checkpoint(run_dir, "target-")
    assert target.stat().st_mode & 0o777 == 0o755
    for path in target.rglob("*"):
        assert path.stat().st_mode & 0o777 == (0o755 if path.is_dir() else 0o644), path
    for path in (run_dir / "samples").rglob("*.jsonl"):
        assert path.stat().st_mode & 0o777 == 0o644, path


# -- 3. YAML alias bombs ---------------------------------------------------------------------------

def test_a_yaml_alias_bomb_is_refused_in_one_short_line(harness_cli, tmp_path):
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 7)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\ntasks:\n  xnli:\n    languages: *a6\n")
    start = time.perf_counter()
    result = harness_cli("tasks", "--tasks-file", bomb)
    line = one_error_line(result, str(bomb), "YAML aliases", "alias bomb")
    assert len(line) < 300 and time.perf_counter() - start < 30


def test_a_huge_value_quoted_in_an_error_is_bounded(harness_cli, tmp_path):
    tasks = tmp_path / "huge.yaml"
    tasks.write_text("tasks:\n  xnli:\n    languages: " + "x" * 2_000_000 + "\n")
    line = one_error_line(harness_cli("tasks", "--tasks-file", tasks), "tasks.xnli.languages: expected a list")
    assert len(line) < 400


# -- 4. plugins run code (documented) ------------------------------------------------------------

def test_the_plugin_guide_says_that_plugin_options_run_code():
    text = (ROOT / "PLUGINS.md").read_text(encoding="utf-8")
    assert "`--plugins` and `$HARNESS_PLUGINS` run code" in text


# -- 5. damaged checkpoints are set aside and retrained -------------------------------------------

@pytest.mark.parametrize("damage", ["weights", "head", "meta"])
def test_a_damaged_checkpoint_is_set_aside_and_retrained(damage, harness_cli, base_run, run_dir, tiny_model_path):
    target = checkpoint(run_dir, "target-")
    path = {"weights": target / "encoder" / "model.safetensors", "head": target / "head-xnli.pt",
            "meta": target / "meta.json"}[damage]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    result = harness_cli(*base_args(tiny_model_path, run_dir, "--overwrite", "always"))
    assert result.exit_code == 0, result.output
    warning = [line for line in result.output.splitlines() if "is damaged" in line]
    assert len(warning) == 1 and str(target) in warning[0] and "training it again" in warning[0]
    assert list(run_dir.glob("checkpoints/target-*.damaged-*"))
    assert "reusing intermediate checkpoint" in result.output
    new = {(r["task"], r["language"]): r["metrics"] for r in results(run_dir)[2:]}
    assert new == metrics_by_cell(base_run)  # retrained to the same weights
    again = harness_cli(*base_args(tiny_model_path, run_dir, "--overwrite", "always"))
    assert again.exit_code == 0 and "reusing target checkpoint" in again.output


# -- 6. damaged result lines are skipped with a warning and recomputed -----------------------------

def test_damaged_result_lines_are_skipped_with_their_line_number_and_recomputed(harness_cli, run_dir, tiny_model_path):
    path = run_dir / "results.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "result")
    lost = json.loads(lines[index])
    lines[index] = b"[1, 2]\n"
    lines.insert(index, b'{"type": "result", "task": "xnli"}\n')
    lines.insert(index, b"\xff\xfe not utf-8\n")
    path.write_bytes(b"".join(lines))
    result = harness_cli(*base_args(tiny_model_path, run_dir))
    assert result.exit_code == 0, result.output
    for number, problem in ((index + 1, "not valid UTF-8"), (index + 2, "a result without a key"),
                            (index + 3, "a JSON list, not an object")):
        assert f"{path}, line {number}: damaged record skipped ({problem})" in result.output
    assert "1 computed, 1 reused" in result.output
    recomputed = [r for r in results(run_dir) if r["key"] == lost["key"]]
    assert len(recomputed) == 1 and recomputed[0]["metrics"] == lost["metrics"]
    report = harness_cli("report", run_dir)
    assert report.exit_code == 0, report.output
    assert f"{path}, line {index + 1}: damaged record skipped" in report.stderr


# -- 7. leftovers, harness clean, --log-samples on reuse -------------------------------------------

def test_leftovers_are_removed_at_start_up_and_by_clean(harness_cli, run_dir, tiny_model_path):
    finished = checkpoint(run_dir, "target-").with_name(checkpoint(run_dir, "target-").name + ".partial")
    unfinished = run_dir / "checkpoints" / "target-xnli-0123456789abcdef.partial"
    for state in (finished, unfinished):
        state.mkdir()
        (state / "train-state.pt").write_bytes(b"x" * 1000)
    half_saved = unfinished / ".train-state.pt.k2Jd8x.tmp"
    half_saved.write_bytes(b"x" * 10)
    stray = run_dir / "samples" / "cfg" / "xnli" / ".test-en.jsonl.a8Zq.tmp"
    stray.parent.mkdir(parents=True)
    stray.write_text("{}\n")
    result = harness_cli(*base_args(tiny_model_path, run_dir))
    assert result.exit_code == 0, result.output
    assert not finished.exists() and not stray.exists() and not half_saved.exists()
    assert (unfinished / "train-state.pt").exists()

    listed = harness_cli("clean", run_dir)
    assert listed.exit_code == 0, listed.output
    assert f"would remove {unfinished}" in listed.stdout and "unfinished phase" in listed.stdout
    assert unfinished.exists()
    deleted = harness_cli("clean", run_dir, "--delete")
    assert deleted.exit_code == 0 and not unfinished.exists()
    assert harness_cli("clean", run_dir).stdout.strip() == "nothing to clean"
    assert checkpoint(run_dir, "target-").exists()


def test_log_samples_is_written_when_results_are_reused(harness_cli, run_dir, tiny_model_path):
    before = (run_dir / "results.jsonl").read_bytes()
    result = harness_cli(*base_args(tiny_model_path, run_dir, "--log-samples"))
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (run_dir / "samples").rglob("*.jsonl"))
    assert written == ["test-de.jsonl", "test-en.jsonl"]
    assert (run_dir / "results.jsonl").read_bytes() == before  # no result computed twice


# -- 8. SIGTERM and Ctrl-C ---------------------------------------------------------------------------

PAUSE_PLUGIN = '''
import os
import time
from pathlib import Path

from harness import hookimpl
from harness.engine import training


class Pausing(training.Reporter):
    """Stops at step 3 of target training until a signal has arrived (the test sends one)."""

    def __init__(self, inner):
        super().__init__(inner.log)
        self.steps = 0

    def advance(self, steps=1, **fields):
        self.steps += steps
        if self.steps == 3 and os.environ.get("PAUSE_DIR"):
            Path(os.environ["PAUSE_DIR"], "paused").write_text(str(os.getpid()))
            while training._STOP["signal"] is None:
                time.sleep(0.02)


@hookimpl
def harness_target_train(model, task, examples, hparams, seed, log, state):
    return training.train_model(model, [task], {task.name: examples}, hparams, seed, None, Pausing(log),
                                **state)
'''


def _signal_args(model: Path, out: Path, plugin: Path) -> list[str]:
    return ["eval", "--model", str(model), "--targets", "xnli", "-l", "xnli=en", "--limit", "16",
            "--hparam", "epochs=2", "--hparam", "batch_size=4", "--data", "samples", "--device", "cpu",
            "--plugins", str(plugin), "-o", str(out)]


def _child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PAUSE_DIR"}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               OMP_NUM_THREADS="1", COLUMNS="400", **extra)
    return env


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          env=_child_env(**env), cwd=ROOT, timeout=400)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_saves_the_training_state_says_how_to_resume_and_the_rerun_matches(
        signum, tiny_model_path, tmp_path):
    plugin = tmp_path / "pause_plugin.py"
    plugin.write_text(PAUSE_PLUGIN)
    out, pause = tmp_path / "out", tmp_path / "pause"
    pause.mkdir()
    args = _signal_args(tiny_model_path, out, plugin)
    process = subprocess.Popen([sys.executable, "-m", "harness", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=_child_env(PAUSE_DIR=str(pause)), cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while not (pause / "paused").exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.05)
        process.send_signal(signum)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    name = signal.Signals(signum).name
    assert process.returncode == 128 + signum, output
    assert "Traceback" not in output and "Aborted!" not in output
    [line] = [line for line in output.splitlines() if line.startswith("interrupted:")]
    assert f"interrupted: {name}: kept 0 new result(s)" in line and "training state at step 4 of 8" in line  # the step after the signal
    assert "resume with: harness eval --model" in line
    assert not list(out.glob("checkpoints/.*")) and list(out.glob("checkpoints/*.partial/train-state.pt"))
    if signum == signal.SIGINT:
        return
    resumed = _run(args)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming training at step 4 of 8" in resumed.stderr
    reference = _run(_signal_args(tiny_model_path, tmp_path / "reference", plugin))
    assert reference.returncode == 0, reference.stderr
    assert metrics_by_cell(out) == metrics_by_cell(tmp_path / "reference")


# -- 9. full disk, read-only directory -------------------------------------------------------------

class FullDisk:
    """The ``os`` module as records.py sees it, with a disk that fills up in the middle of a line."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def write(fd, data):
        os.write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_line_and_keeps_every_whole_line(harness_cli, run_dir, tiny_model_path, monkeypatch):
    import harness.results.records as records

    before = (run_dir / "results.jsonl").read_bytes()
    monkeypatch.setattr(records, "os", FullDisk())
    result = harness_cli(*base_args(tiny_model_path, run_dir, "--overwrite", "always"))
    one_error_line(result, f"cannot write {run_dir / 'results.jsonl'}: No space left on device")
    assert (run_dir / "results.jsonl").read_bytes() == before


def test_a_read_only_output_dir_is_one_line(harness_cli, run_dir, tiny_model_path, monkeypatch):
    from harness.engine.modeling import LoadedModel

    def read_only(self, directory, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(directory))

    shutil.rmtree(checkpoint(run_dir, "target-"))
    before = (run_dir / "results.jsonl").read_bytes()
    monkeypatch.setattr(LoadedModel, "save", read_only)
    result = harness_cli(*base_args(tiny_model_path, run_dir, "--overwrite", "always"))
    one_error_line(result, "cannot write", "target-xnli-", "Read-only file system")
    assert (run_dir / "results.jsonl").read_bytes().startswith(before)
    assert all(validate_record(r) == [] for r in read_records(run_dir / "results.jsonl"))


# -- 10, 11. every bad value is one line, exit 2 ------------------------------------------------------

BAD_VALUES = {
    "limit-0": (["--limit", "0"], "--limit 0: must be >= 1"),
    "limit-negative": (["--limit", "-3"], "--limit -3: must be >= 1"),
    "batch_size": (["--hparam", "batch_size=0"], "--hparam.batch_size: must be >= 1"),
    "grad_accum": (["--hparam", "grad_accum=0"], "--hparam.grad_accum: must be >= 1"),
    "max_length": (["--hparam", "max_length=0"], "--hparam.max_length: must be >= 8"),
    "eval_batch_size": (["--hparam", "eval_batch_size=0"], "--hparam.eval_batch_size: must be >= 1"),
    "learning_rate": (["--hparam", "learning_rate=0"], "--hparam.learning_rate: must be > 0"),
    "epochs": (["--hparam", "epochs=0"], "--hparam.epochs: must be > 0"),
    "epochs-huge": (["--hparam", "epochs=1e8"], "--hparam.epochs: must be > 0 and <= 1000, got '1e8'"),
    "warmup": (["--hparam", "warmup_ratio=1e308"], "--hparam.warmup_ratio: must be >= 0 and <= 1"),
    "nan": (["--intermediate-hparam", "learning_rate=.nan"], "--intermediate-hparam.learning_rate: must be > 0"),
    "save-every": (["--save-every", "-1"], "--save-every -1.0: must be > 0"),
    "seed": (["--seed", str(2**70)], f"--seed {2**70}: must be >= 0 and <= 4294967295"),
    "yaml": (["--hparam", "epochs=[1"], "--hparam epochs='[1'"),
    "precision": (["--hparam", "mixed_precision=fp8"], "--hparam.mixed_precision: expected one of auto, no"),
}


@pytest.mark.parametrize("case", sorted(BAD_VALUES))
def test_every_bad_value_is_one_line(case, harness_cli, tiny_model_path):
    extra, message = BAD_VALUES[case]
    result = harness_cli("eval", "--model", tiny_model_path, "--targets", "xnli", "-o", harness_cli.out, *extra)
    one_error_line(result, message)
    assert not harness_cli.out.exists()


def test_a_preset_limit_out_of_range_is_one_line(harness_cli, tiny_model_path, tmp_path):
    tasks = tmp_path / "presets.yaml"
    tasks.write_text("presets:\n  tiny:\n    targets: [xnli]\n    limit: -5\n")
    result = harness_cli("eval", "--preset", "tiny", "--model", tiny_model_path, "--tasks-file", tasks,
                         "-o", harness_cli.out)
    one_error_line(result, "preset 'tiny' limit -5: must be >= 1")


def test_the_schedule_is_lazy_and_the_step_count_bounded():
    from harness.engine.training import MAX_STEPS, build_schedule
    from harness.errors import TrainingError

    lengths = {"a": list(range(10_000))}
    start = time.perf_counter()
    schedule = build_schedule(lengths, batch_size=1, epochs=999, seed=1)  # 9,990,000 steps
    first = [step for _, step in zip(range(3), schedule)]
    assert len(schedule) == 9_990_000 and len(first) == 3
    assert time.perf_counter() - start < 5  # nothing is built up front
    with pytest.raises(TrainingError, match=f"at most {MAX_STEPS:,}"):
        build_schedule(lengths, batch_size=1, epochs=1001, seed=1)


# -- 12. data: QA gold answers, null fields, the file's own keys ------------------------------------

def _load_bad_row(tmp_path, task: str, file: str, change):
    from harness.errors import DataError
    from harness.run.data import load_examples
    from harness.spec.registry import build_registry

    root = tmp_path / "data"
    shutil.copytree(SAMPLES / task, root / task)
    path = root / task / file
    lines = path.read_text(encoding="utf-8").splitlines()
    row = json.loads(lines[1])
    change(row)
    lines[1] = json.dumps(row, ensure_ascii=False)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    registry = build_registry(data_dir=root)
    split, language = file.removesuffix(".jsonl").split("-")
    with pytest.raises(DataError) as caught:
        load_examples(registry.plugins, registry.task(task), split, language, source="local")
    return str(caught.value)


def _no_answer(row):
    row["answers"] = {"text": [], "answer_start": []}


def _empty_answer(row):
    row["answers"] = {"text": [""], "answer_start": [3]}


@pytest.mark.parametrize("task, file, change, needles", [
    ("xquad", "test-de.jsonl", _no_answer, ["row 2, field 'answers'", "no gold answer"]),
    ("xquad", "test-de.jsonl", _empty_answer, ["row 2, field 'answers'", "expected a non-empty string"]),
    ("tatoeba", "test-de.jsonl", lambda row: row.update(source_sentence=None),
     ["row 2, field 'source_sentence': missing value (null)"]),
    ("pawsx", "test-de.jsonl", lambda row: row.update(sentence1=None), ["row 2, field 'sentence1': missing value"]),
])
def test_bad_data_rows_name_the_files_own_field(task, file, change, needles, tmp_path):
    message = _load_bad_row(tmp_path, task, file, change)
    assert message.startswith(str(tmp_path / "data" / task / file)), message
    for needle in needles:
        assert needle in message, message


# -- 13-15. plugins: bad results, blame, duplicates, timeouts --------------------------------------

ROGUE_PLUGIN = '''
import os
import time
from harness import hookimpl
from harness.formats import EvalOutput

MODE = os.environ.get("ROGUE_MODE", "")


@hookimpl
def harness_evaluate(task, language):
    if language != "de":
        return None
    if MODE == "nan":
        return EvalOutput(metrics={"accuracy": float("nan")}, ids=[], predictions=[], golds=[])
    if MODE == "object":
        return EvalOutput(metrics={"accuracy": object()}, ids=[], predictions=[], golds=[])
    if MODE == "raise":
        raise RuntimeError("rogue evaluation")
    if MODE == "hang":
        time.sleep(60)


@hookimpl
def harness_load_rows(task, split, language, source):
    if MODE == "dicts" and split == "test" and language == "de":
        return iter([{"premise": "a", "hypothesis": "b", "label": "entailment"}])
    return None
'''


@pytest.mark.parametrize("mode, error_type, needle", [
    ("nan", "PluginError", "harness_evaluate of plugin 'rogue' returned metric 'accuracy' = 'nan'"),
    ("object", "PluginError", "harness_evaluate of plugin 'rogue' returned metric 'accuracy'"),
    ("raise", "RuntimeError", "rogue evaluation"),
    ("dicts", "PluginError", "harness_load_rows of plugin 'rogue' yielded dict"),
    ("hang", "HookTimeout", "harness_evaluate of plugin 'rogue' did not return within 2 s"),
])
def test_a_misbehaving_plugin_hook_becomes_an_error_record_naming_it(mode, error_type, needle, harness_cli, run_dir,
                                                                     tiny_model_path, tmp_path):
    plugin = plugin_file(tmp_path, "rogue", ROGUE_PLUGIN)
    start = time.perf_counter()
    timeout = ["--hook-timeout", "2"] if mode == "hang" else []
    result = harness_cli(*base_args(tiny_model_path, run_dir, "--overwrite", "always", "--plugins", plugin, *timeout),
                         env={"ROGUE_MODE": mode})
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    [error] = errors(run_dir)
    assert (error["task"], error["language"], error["error_type"]) == ("xnli", "de", error_type), error
    assert needle in error["message"] and validate_record(error) == []
    if mode in ("raise", "hang"):
        assert error["plugin"] == "rogue"
    assert [r["language"] for r in results(run_dir)[2:]] == ["en"]  # the other cell went on
    assert time.perf_counter() - start < 50


def test_a_task_name_registered_twice_names_both_plugins(harness_cli, tmp_path):
    plugin = plugin_file(tmp_path, "impostor", '''
        from harness import Task, hookimpl

        class Impostor(Task):
            name = "xnli"
            format = "classification"

            def to_example(self, row, split, language):
                return {}

        @hookimpl
        def harness_register_tasks(register):
            register(Impostor())
    ''')
    result = harness_cli("tasks", "--json", "--plugins", plugin)
    assert result.exit_code == 0, result.output
    assert ("warning: plugin 'impostor' failed and was skipped: harness_register_tasks raised PluginError: "
            "task 'xnli' is already registered by plugin 'xnli'; plugin 'impostor' cannot register it too"
            in result.stderr)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["xnli"]["plugin"] == "xnli" and rows["xnli"]["status"] == "ok"
    strict = harness_cli("tasks", "--plugins", plugin, "--strict-plugins")
    assert strict.exit_code == 2 and "'impostor'" in strict.output and "'xnli'" in strict.output
