"""`harness bench`: statistics against numpy, the interleaving order, verdicts on synthetic timings,
variants (int8, ONNX), inputs, the CLI and `harness report --bench`; the benchmark scripts at tiny sizes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from harness.bench import stats
from harness.commands import cli
from test_bad_input import assert_one_line_fatal

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--data", "samples", "--iterations", "4", "--chunk", "2", "--warmup", "1", "--threads", "1", "--device", "cpu"]


# ------------------------------------------------------------------------------ statistics
def _timings(seed: int = 3, n: int = 60) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(mean=2.0, sigma=0.3, size=n)


def test_summary_matches_numpy():
    values = _timings()
    figures = stats.summary(values)
    for q in (50, 90, 95, 99):
        assert figures[f"p{q}"] == pytest.approx(np.percentile(values, q), rel=1e-12)
    assert figures["mean"] == pytest.approx(values.mean()) and figures["max"] == values.max()


def _numpy_block_bootstrap(chunks: list[np.ndarray], q: float, level: float, seed: int) -> tuple[float, float]:
    """The textbook percentile bootstrap over rounds, written out with numpy alone."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(chunks), size=(stats.BOOTSTRAP_SAMPLES, len(chunks)))
    estimates = [np.percentile(np.concatenate([chunks[i] for i in row]), q) for row in picks]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(estimates, [tail, 100 - tail])
    return low, high


def test_percentile_intervals_match_a_numpy_bootstrap():
    chunks = list(_timings(n=60).reshape(12, 5))
    for q in (50, 95):
        ours = stats.percentile_ci(chunks, q, seed=7)
        assert ours == pytest.approx(_numpy_block_bootstrap(chunks, q, 0.95, seed=7), rel=1e-12)
        assert ours[0] <= np.percentile(np.concatenate(chunks), q) <= ours[1]
    # a single round: the single timings are resampled
    values = _timings(n=40)
    single = stats.percentile_ci([values], 50, seed=1)
    assert single == pytest.approx(_numpy_block_bootstrap([np.array([v]) for v in values], 50, 0.95, seed=1))


def test_intervals_narrow_with_more_rounds():
    rng = np.random.default_rng(0)
    few = list(rng.normal(100, 5, size=(4, 5)))
    many = list(rng.normal(100, 5, size=(40, 5)))
    width = [np.diff(stats.percentile_ci(c, 50)) for c in (few, many)]
    assert width[1] < width[0]


def test_turn_order_alternates_a_b_b_a():
    assert stats.turn_order(2, 4) == [0, 1, 1, 0, 0, 1, 1, 0]
    assert stats.turn_order(3, 2) == [0, 1, 2, 2, 1, 0]
    assert stats.turn_order(1, 3) == [0, 0, 0]


def _rounds(mean: float, rounds: int = 12, per: int = 5, noise: float = 0.01, seed: int = 0,
            load: np.ndarray | None = None) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    load = np.ones(rounds) if load is None else load
    return [mean * load[r] * (1 + noise * rng.standard_normal(per)) for r in range(rounds)]


@pytest.mark.parametrize("other, expected", [(103.0, "equivalent"), (97.0, "equivalent"), (110.0, "slower"),
                                             (90.0, "faster")])
def test_verdicts_on_synthetic_timings(other, expected):
    base, compared = _rounds(100.0, seed=1), _rounds(other, seed=2)
    result = stats.compare(base, compared, margin=0.05)
    assert result["verdict"] == expected
    assert result["ratio"] == pytest.approx(other / 100.0, abs=0.01)
    assert result["ci95"][0] <= result["ci90"][0] <= result["ratio"] <= result["ci90"][1] <= result["ci95"][1]


def test_verdict_is_undecided_when_noise_hides_the_margin():
    base, compared = _rounds(100.0, rounds=3, noise=0.3, seed=1), _rounds(103.0, rounds=3, noise=0.3, seed=2)
    assert stats.compare(base, compared, margin=0.05)["verdict"] == "undecided"
    assert stats.verdict((0.96, 1.04), 0.05) == "equivalent"
    assert stats.verdict((0.93, 0.97), 0.05) == "faster"      # a difference shown, equivalence not
    assert stats.verdict((0.97, 1.07), 0.05) == "undecided"
    assert stats.verdict((1.02, 1.08), 0.05) == "slower"


def test_ratio_interval_pairs_rounds_so_shared_load_cancels():
    """Load from elsewhere that slows both arms of a round alike (what interleaving is for) does
    not widen the ratio's interval: 3% apart stays equivalent at 5% even when rounds vary 3x."""
    load = np.linspace(1.0, 3.0, 12)
    base, compared = _rounds(100.0, load=load, seed=1), _rounds(103.0, load=load, seed=2)
    result = stats.compare(base, compared, margin=0.05)
    assert result["verdict"] == "equivalent"
    assert result["ci95"][1] - result["ci95"][0] < 0.03
    wide = stats.percentile_ci(base, 50)
    assert wide[1] / wide[0] > 1.3  # while each arm's own interval is wide


# ------------------------------------------------------------------------------ timing loop
def test_time_cell_runs_the_arms_in_turns(monkeypatch):
    from harness.bench.inputs import Workload
    from harness.bench.measure import Arm, time_cell
    from harness.bench.variants import Runner

    calls: list[tuple[str, int]] = []

    def runner(name: str) -> Runner:
        return Runner("fp32", lambda batch: calls.append((name, int(batch["input_ids"][0, 0]))) or np.zeros(1),
                      torch.device("cpu"))

    batches = [{"input_ids": torch.tensor([[i]])} for i in range(3)]
    work = Workload("length", 1, batches, [1, 1, 1], [1, 1, 1], [1, 1, 1])
    arms = [Arm("model", "a", runner("A")), Arm("compare", "b", runner("B"))]
    timings = time_cell(arms, [work, work], iterations=5, warmup=1, chunk=2, device=torch.device("cpu"))
    order = [name for name, _ in calls]
    assert order == ["A", "B"] + ["A", "A", "B", "B", "B", "B", "A", "A", "A", "B"]
    assert [len(c) for c in timings[0].chunks] == [2, 2, 1] and timings[1].examples == 5
    # in each round both arms see the same batches
    timed = calls[2:]
    assert [b for n, b in timed if n == "A"] == [b for n, b in timed if n == "B"] == [0, 1, 2, 0, 1]


# ------------------------------------------------------------------------------ variants
@pytest.fixture
def classification_model(tiny_model):
    from harness.formats import get_format
    from harness.spec.registry import build_registry

    task = build_registry().task("xnli")
    torch.manual_seed(0)
    tiny_model.heads["xnli"] = get_format(task.format).build_head(tiny_model.hidden_size, task)
    task_model = tiny_model.task_model("xnli").eval()
    enc = tiny_model.tokenizer(["Der Hund läuft schnell über die Wiese .", "Die Katze schläft ."],
                               ["Paris is the capital of France .", "A man is playing ."],
                               padding=True, return_tensors="pt")
    return task_model, dict(enc)


def test_onnx_output_equals_torch(classification_model, tmp_path):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from harness.bench.variants import build

    task_model, batch = classification_model
    with torch.inference_mode():
        expected = task_model(batch, "xnli")["logits"].numpy()
    runner = build("onnx-fp32", task_model, "xnli", torch.device("cpu"), batch, tmp_path)
    assert runner.info["backend"] == "onnxruntime" and runner.info["serialized_bytes"] > 0
    assert np.abs(runner(batch) - expected).max() < 1e-4
    single = {k: v[:1, :5] for k, v in batch.items()}  # other batch size and length than the export's
    with torch.inference_mode():
        assert np.abs(runner(single) - task_model(single, "xnli")["logits"].numpy()).max() < 1e-4
    int8 = build("onnx-int8", task_model, "xnli", torch.device("cpu"), batch, tmp_path)
    assert "int8" in int8.info["dtype_bytes"] and int8(batch).shape == expected.shape


def test_int8_dynamic_variant(classification_model):
    from harness.bench.variants import build

    task_model, batch = classification_model
    runner = build("int8-dynamic", task_model, "xnli", torch.device("cpu"), batch, Path("unused"))
    assert "quantiz" in runner.info["api"]
    assert any("int8" in dtype for dtype in runner.info["dtype_bytes"])
    with torch.inference_mode():
        expected = task_model(batch, "xnli")["logits"].numpy()
    assert runner(batch).shape == expected.shape and np.abs(runner(batch) - expected).max() < 0.5
    fp32 = build("fp32", task_model, "xnli", torch.device("cpu"), batch, Path("unused"))
    assert fp32.info["dtype_bytes"] == {"float32": sum(t.numel() * 4 for t in task_model.state_dict().values())}


def test_int8_without_a_quantization_api_is_a_user_error(classification_model, monkeypatch):
    import builtins

    from harness.bench.variants import dynamic_int8
    from harness.errors import HarnessError

    real_import = builtins.__import__

    def no_torchao(name, *args, **kwargs):
        if name.startswith("torchao"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torchao)
    with pytest.raises(HarnessError, match="torchao"):
        dynamic_int8(classification_model[0], torch.device("meta"))  # no legacy path off the CPU


def test_half_precision_variant_halves_the_weights(classification_model):
    from harness.bench.variants import build

    task_model, batch = classification_model
    runner = build("bf16", task_model, "xnli", torch.device("cpu"), batch, Path("unused"))
    fp32_bytes = sum(t.numel() * 4 for t in task_model.state_dict().values())
    assert runner.info["dtype_bytes"] == {"bfloat16": fp32_bytes // 2}
    assert runner(batch).dtype == np.float32


def test_autocast_variant_is_what_evaluation_runs_and_only_where_it_runs(classification_model, monkeypatch):
    """``autocast-bf16``: fp32 weights under the engine's bf16 autocast (evaluation's precision on a
    GPU). Where the engine's policy gives no autocast (a CPU), asking for it is a one-line error rather
    than a silent fp32 arm under its name."""
    import harness.engine.batches as batches
    from harness.bench.variants import build
    from harness.errors import HarnessError

    task_model, batch = classification_model
    with pytest.raises(HarnessError, match="autocast-bf16.*on cpu evaluation runs fp32"):
        build("autocast-bf16", task_model, "xnli", torch.device("cpu"), batch, Path("unused"))
    # as on a GPU with bf16: the policy applies (CPU autocast computes in bf16 the same way)
    monkeypatch.setattr(batches, "precision_policy", lambda device, mixed: mixed if mixed in ("bf16", "fp16") else "no")
    monkeypatch.setattr("harness.bench.variants.precision_policy", batches.precision_policy)
    runner = build("autocast-bf16", task_model, "xnli", torch.device("cpu"), batch, Path("unused"))
    assert runner.info["mixed_precision"] == "bf16" and runner.info["dtype_bytes"].keys() == {"float32"}
    with torch.inference_mode():
        expected = task_model(batch, "xnli")["logits"].numpy()
    got = runner(batch)
    assert got.dtype == np.float32 and 0 < np.abs(got - expected).max() < 0.05   # bf16 matmuls: close, not equal


# ------------------------------------------------------------------------------ inputs
def test_synthetic_rows_have_the_exact_length_and_real_tokens(tiny_model):
    from harness.bench.inputs import synthetic_workload

    examples = [{"text_a": "Der Hund läuft schnell über die Wiese .", "text_b": "Die Katze schläft auf dem Sofa ."}]
    work = synthetic_workload(tiny_model, examples, batch_size=3, length=20)
    ids = work.batches[0]["input_ids"]
    tok = tiny_model.tokenizer
    assert ids.shape == (3, 20) and bool(work.batches[0]["attention_mask"].all())
    assert (ids[:, 0] == tok.cls_token_id).all() and (ids[:, -1] == tok.sep_token_id).all()
    assert not (ids == tok.pad_token_id).any() and len({tuple(r.tolist()) for r in ids}) == 3
    assert (ids[:, 1:-1] != tok.unk_token_id).float().mean() > 0.9
    assert work.tokens == work.padded_tokens == [60]


def test_fertility_counts_subwords_per_word(tiny_model):
    from harness.bench.inputs import fertility

    examples = [{"tokens": ["Der", "Hund", "läuft"], "tags": ["DET", "NOUN", "VERB"]}]
    tok = tiny_model.tokenizer
    subwords = sum(len(tok(w, add_special_tokens=False)["input_ids"]) for w in ["Der", "Hund", "läuft"])
    figures = fertility(tok, examples)
    assert figures["words"] == 3 and figures["tokens_per_word"] == pytest.approx(subwords / 3)
    assert figures["tokens_per_char"] == pytest.approx(subwords / len("DerHundläuft"))


# ------------------------------------------------------------------------------ command and report
def test_bench_sweep_ab_int8_accuracy_and_report(tiny_model_path, tmp_path):
    from harness.results.records import read_records, validate_record

    records_path, json_path = tmp_path / "bench.jsonl", tmp_path / "out.json"
    result = CliRunner().invoke(cli, ["bench", "-m", str(tiny_model_path), "-c", str(tiny_model_path),
                                      "--batch-sizes", "1,2", "--lengths", "8,16", "--languages", "de,zh",
                                      "--limit", "6", "--quantize", "int8-dynamic", "--accuracy", "xnli:de",
                                      *FAST, "--json", str(json_path), "-o", str(records_path)])
    assert result.exit_code == 0, result.output
    records = read_records(records_path)
    assert len(records) == (2 * 2 + 2 * 2) * 4  # cells x (2 models x 2 variants)
    assert json.loads(json_path.read_text())["records"] == records
    for r in records:
        assert validate_record(r) == [], r
        lat = r["latency_ms"]
        assert lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        assert r["iterations"] == 4 and r["examples_per_s"] > 0 and r["tokens_per_s"] > 0
        assert r["memory"]["peak_host_mb"] > 0 and "float32" in r["size"]["dtype_bytes"]
        assert r["accuracy"]["language"] == "de" and r["accuracy"]["split"] == "dev"
        assert ("ab" in r) == (r["role"] == "compare") and ("vs_fp32" in r) == (r["variant"] != "fp32")
        for key in ("ab", "vs_fp32"):
            if key in r:
                assert r[key]["verdict"] in stats.VERDICTS and r[key]["margin"] == 0.05
        if r["workload"] == "length":
            assert r["inputs"]["tokens_per_batch"] == r["inputs"]["padded_tokens_per_batch"] == r["length"] * r["batch_size"]
        else:
            assert r["inputs"]["tokens_per_word"] > 0 and r["language"] in ("de", "zh")
    assert {r["accuracy"]["agreement_with_fp32"] for r in records if r["variant"] == "fp32"} == {1.0}
    assert "Batch latency per cell" in result.output and "verdict" in result.output

    report = CliRunner().invoke(cli, ["report", "--bench", str(records_path), "--format", "md",
                                      "--plot", str(tmp_path / "bench.png")])
    assert report.exit_code == 0, report.output
    for expected in ("### Batch latency per cell", "### A/B and variants vs fp32", "### Per-language cost",
                     "### Variants: size, accuracy, speed", "| length 16 |", "torch.ao.quantization"):
        assert expected in report.output, expected
    assert (tmp_path / "bench.png").stat().st_size > 10_000
    as_json = CliRunner().invoke(cli, ["report", "--bench", str(json_path), "--format", "json"])
    assert as_json.exit_code == 0 and "Per-language cost (real inputs)" in json.loads(as_json.output)


def test_bench_default_cell_and_checkpoint_head(tiny_model, tmp_path):
    from harness.formats import get_format
    from harness.spec.registry import build_registry

    task = build_registry().task("udpos")
    tiny_model.heads["udpos"] = get_format("tagging").build_head(tiny_model.hidden_size, task)
    checkpoint = tmp_path / "ckpt"
    tiny_model.save(checkpoint, heads=("udpos",), meta={"note": "test"})
    result = CliRunner().invoke(cli, ["bench", "-m", str(checkpoint), "-t", "udpos", "--limit", "4",
                                      "--batch-sizes", "2", *FAST, "--json", "-"])
    assert result.exit_code == 0, result.output
    (record,) = json.loads(result.stdout)["records"]
    assert record["workload"] == "language" and record["language"] == "en" and record["task"] == "udpos"
    assert record["model_info"]["checkpoint"] is True and record["model_info"]["head"] == "trained"
    assert "ab" not in record and "vs_fp32" not in record


@pytest.mark.parametrize("args, message", [
    (["--lengths", "8,x"], "comma-separated integers"),
    (["--batch-sizes", "0"], "positive integer"),
    (["--quantize", "int9-dynamic"], "did you mean 'int8-dynamic'"),
    (["--accuracy", "xnli"], "TASK:LANG"),
    (["--accuracy", "pawsx:de", "-t", "xnli"], "give that task"),
    (["--lengths", "4096"], "longer than the model accepts"),
    (["--margin", "5"], "--margin"),
    (["-t", "tatoeba"], "no task head"),
    (["-l", "xx"], "error"),
])
def test_bench_user_errors(tiny_model_path, args, message):
    result = CliRunner().invoke(cli, ["bench", "-m", str(tiny_model_path), "--limit", "2", *FAST, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output


def test_report_bench_without_records_is_a_user_error(tmp_path):
    empty = tmp_path / "bench.jsonl"
    empty.write_text("")
    result = CliRunner().invoke(cli, ["report", "--bench", str(empty)])
    assert result.exit_code == 2 and "no bench records" in result.output


# ------------------------------------------------------------------------------ scripts
def _script(name: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / name), *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def test_bench_encode_script_runs(tiny_model_path, tmp_path):
    out = tmp_path / "encode.json"
    done = _script("bench_encode.py", "--model", str(tiny_model_path), "--n", "24", "--naive-n", "6",
                   "--repeats", "1", "--batch-size", "8", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "vs sentence-transformers" in done.stdout and "of matmul" in done.stdout
    figures = json.loads(out.read_text())
    assert figures["max_diff_st"] < 1e-4 and figures["implementations"]["harness"]["sentences_per_s"] > 0


def test_bench_train_script_runs(tiny_model_path, tmp_path):
    out = tmp_path / "train.json"
    done = _script("bench_train.py", "--model", str(tiny_model_path), "--n", "24", "--dev-n", "6",
                   "--batch-size", "8", "--repeats", "1", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())
    assert set(figures["implementations"]) == {"harness", "HF Trainer"}
    assert figures["implementations"]["harness"]["steps"] == figures["implementations"]["HF Trainer"]["steps"] == 3
    assert "harness / HF Trainer" in done.stdout


def test_bench_eval_script_runs_with_identical_predictions(tiny_model_path, tmp_path):
    out = tmp_path / "eval.json"
    done = _script("bench_eval.py", "--model", str(tiny_model_path), "--n-tagging", "12", "--n-qa", "6",
                   "--batch-size", "4", "--repeats", "1", "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(out.read_text())["tasks"]
    assert figures["udpos"]["identical_predictions"] and figures["xquad"]["identical_predictions"]


def test_bench_mining_script_runs():
    if not (ROOT / "benchmarks" / "bench_mining.py").exists():
        pytest.skip("bench_mining.py is not there")
    done = _script("bench_mining.py", "--n", "300", "--dim", "16")
    assert done.returncode == 0, done.stdout + done.stderr


def test_gpu_check_script_runs_on_cpu_at_tiny_size(tmp_path):
    done = _script("gpu_check.py", "--tiny", "--device", "cpu", "--out", str(tmp_path), "--sentences", "32",
                   "--train-examples", "16", "--batch-size", "8", "--bench-batch-sizes", "2", "--bench-lengths", "16",
                   "--iterations", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads((tmp_path / "gpu_check.json").read_text())
    assert 0 < figures["encode"]["share_of_peak"] < 1 and figures["train"]["examples_per_s"] > 0
    assert {c["variant"] for c in figures["bench"]["cells"]} == {"fp32", "bf16"}
    assert "of peak" in done.stdout and "vs fp32" in done.stdout


# ------------------------------------------------------------------------------ head-only checkpoints
@pytest.fixture
def head_only_target(tiny_model_path, tmp_path) -> Path:
    """A target checkpoint trained with a frozen encoder: its head plus encoder-ref.json pointing at
    the intermediate checkpoint's encoder."""
    result = CliRunner().invoke(cli, ["eval", "--model", str(tiny_model_path), "-i", "mnli", "-t", "xnli",
                                      "-l", "xnli=de", "--limit", "8", "--hparam", "epochs=1", "--hparam",
                                      "batch_size=8", "--hparam", "freeze_encoder=true", "--data", "samples",
                                      "--device", "cpu", "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    [target] = (tmp_path / "run" / "checkpoints").glob("target-xnli-*")
    assert (target / "encoder-ref.json").is_file() and not (target / "encoder").exists()
    return target


def _bench_compare(model: Path, target: Path):
    return CliRunner().invoke(cli, ["bench", "-m", str(model), "--compare", str(target), "-t", "xnli",
                                    "--lengths", "8", "--batch-sizes", "1", *FAST, "--json", "-"])


def test_bench_compares_a_head_only_checkpoint_through_its_encoder_reference(tiny_model_path, head_only_target):
    [inter] = head_only_target.parent.glob("intermediate-*")
    result = _bench_compare(tiny_model_path, head_only_target)
    assert result.exit_code == 0, result.output
    compare = next(r for r in json.loads(result.stdout)["records"] if r["role"] == "compare")
    info = compare["model_info"]
    assert info["checkpoint"] is True and info["head"] == "trained"
    assert Path(info["source"]) == inter / "encoder"       # the encoder the head was trained on


def test_bench_head_only_checkpoint_with_a_changed_or_missing_encoder_is_one_line(tiny_model_path,
                                                                                 head_only_target):
    [inter] = head_only_target.parent.glob("intermediate-*")
    weights = inter / "encoder" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1                                          # same size, other bytes
    weights.write_bytes(bytes(data))
    assert_one_line_fatal(_bench_compare(tiny_model_path, head_only_target), f"checkpoint {head_only_target}:",
                          f"its encoder, checkpoint {inter.name}, does not match encoder-ref.json: "
                          "encoder/model.safetensors is truncated or changed since it was saved")
    inter.rename(inter.with_name("elsewhere"))
    assert_one_line_fatal(_bench_compare(tiny_model_path, head_only_target), f"checkpoint {head_only_target}:",
                          f"its encoder, checkpoint {inter.name}, is gone")
