"""Tables and plots of ``bench`` records (``harness bench``, ``harness report --bench``): latency
per cell with its intervals, the A/B and variant-vs-fp32 ratios with their verdicts, per-language
cost, and each variant's accuracy and size next to its speed."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

Table = tuple[str, list[str], list[list[str]]]


def load_bench_records(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    """The ``bench`` records of JSONL files (``harness bench --output``), JSON documents
    (``--json``) or directories holding ``bench.jsonl``."""
    from harness.results.records import read_records

    found: list[dict[str, Any]] = []
    for value in paths:
        path = Path(value)
        if path.is_dir():
            path = path / "bench.jsonl"
        if path.suffix == ".json":
            records = json.loads(path.read_text(encoding="utf-8")).get("records", [])
        else:
            records = read_records(path)
        found += [r for r in records if isinstance(r, dict) and r.get("type") == "bench"]
    return found


def _cell(record: dict[str, Any]) -> str:
    if record["workload"] == "length":
        return f"length {record['length']}"
    return f"{record['task']} {record['language']}"


def _arm(record: dict[str, Any]) -> str:
    """'model: NAME' or 'compare: NAME', NAME the last part of the spec (a path or a hub id)."""
    return f"{record['role']}: {Path(record['model'].rstrip('/')).name or record['model']}"


def _ms(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"


def _interval(pair: list[float]) -> str:
    return f"[{_ms(pair[0])}, {_ms(pair[1])}]"


def _ratio(comparison: dict[str, Any]) -> list[str]:
    low, high = comparison["ci95"]
    return [f"{comparison['ratio']:.3f}", f"[{low:.3f}, {high:.3f}]", f"±{comparison['margin'] * 100:g}%",
            comparison["verdict"]]


def latency_table(records: list[dict[str, Any]]) -> Table:
    headers = ["cell", "batch", "arm", "variant", "p50 ms", "p50 95% CI", "p90", "p95 ms", "p95 95% CI", "p99",
               "mean", "examples/s", "tokens/s", "peak +MB", "n"]
    rows = []
    for r in records:
        lat, ci = r["latency_ms"], r["latency_ci95_ms"]
        rows.append([_cell(r), str(r["batch_size"]), _arm(r), r["variant"], _ms(lat["p50"]), _interval(ci["p50"]),
                     _ms(lat["p90"]), _ms(lat["p95"]), _interval(ci["p95"]), _ms(lat["p99"]), _ms(lat["mean"]),
                     f"{r['examples_per_s']:,.1f}", f"{r['tokens_per_s']:,.0f}",
                     f"{r['memory']['peak_delta_mb']:,.0f}", str(r["iterations"])])
    return "Batch latency per cell (ms)", headers, rows


def comparison_table(records: list[dict[str, Any]]) -> Table:
    headers = ["cell", "batch", "variant", "arm", "against", "time ratio", "95% CI", "margin", "verdict"]
    rows = [[_cell(r), str(r["batch_size"]), r["variant"], _arm(r), r[key]["against"], *_ratio(r[key])]
            for r in records for key in ("ab", "vs_fp32") if key in r]
    return "A/B and variants vs fp32 (p50 time ratio, TOST verdict)", headers, rows


def language_table(records: list[dict[str, Any]]) -> Table:
    headers = ["language", "batch", "arm", "variant", "tokens/word", "tokens/char", "ms/example p50",
               "examples/s", "padding %"]
    rows = []
    for r in records:
        if r["workload"] != "language":
            continue
        inp = r["inputs"]
        padding = 1 - inp["tokens_per_batch"] / max(inp["padded_tokens_per_batch"], 1e-9)
        rows.append([r["language"], str(r["batch_size"]), _arm(r), r["variant"],
                     f"{inp.get('tokens_per_word', float('nan')):.2f}", f"{inp.get('tokens_per_char', float('nan')):.3f}",
                     _ms(r["example_latency_ms"]["p50"]), f"{r['examples_per_s']:,.1f}", f"{padding * 100:.0f}"])
    return "Per-language cost (real inputs)", headers, rows


def variant_table(records: list[dict[str, Any]]) -> Table:
    """One row per arm: size, memory and (with --accuracy) accuracy, next to its median speed-up."""
    headers = ["arm", "variant", "api", "MB serialised", "bytes per dtype", "load +MB", "accuracy",
               "agrees with fp32", "median time vs fp32"]
    rows, seen = [], set()
    for r in records:
        key = (r["role"], r["model"], r["variant"])
        if key in seen:
            continue
        seen.add(key)
        same = [x["vs_fp32"]["ratio"] for x in records
                if (x["role"], x["model"], x["variant"]) == key and "vs_fp32" in x]
        ratio = f"{sorted(same)[len(same) // 2]:.3f}" if same else "-"
        acc, size = r.get("accuracy"), r["size"]
        metric = f"{acc['metrics'].get(acc['metric'], float('nan')):.4f} ({acc['head']} head, n={acc['n_examples']})" \
            if acc else "-"
        agree = f"{acc['agreement_with_fp32']:.3f}" if acc else "-"
        dtypes = ", ".join(f"{k} {v / 2**20:.1f}M" for k, v in sorted(size["dtype_bytes"].items()))
        serialised = "-" if size["serialized_bytes"] is None else f"{size['serialized_bytes'] / 2**20:.1f}"
        rows.append([_arm(r), r["variant"], r["backend"].get("api", ""), serialised, dtypes,
                     f"{size['load_delta_mb']:.0f}", metric, agree, ratio])
    return "Variants: size, accuracy, speed", headers, rows


def bench_tables(records: list[dict[str, Any]]) -> list[Table]:
    tables = [latency_table(records), comparison_table(records), language_table(records), variant_table(records)]
    return [t for t in tables if t[2]]


def render_bench_markdown(records: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for title, headers, rows in bench_tables(records):
        lines += [f"### {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def render_bench(records: list[dict[str, Any]], console: Any) -> None:
    from rich.table import Table as RichTable

    from harness.results.tables import print_table

    for title, headers, rows in bench_tables(records):
        table = RichTable(title=title, title_justify="left")
        for header in headers:
            table.add_column(header)
        for row in rows:
            table.add_row(*row)
        print_table(table, console)


def bench_dict(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {title: [dict(zip(headers, row)) for row in rows] for title, headers, rows in bench_tables(records)}


def plot_bench(records: list[dict[str, Any]], path: str | Path) -> Path:
    """Latency vs length per batch size, per-language cost bars, and the ratios with their intervals."""
    from harness.errors import HarnessError

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HarnessError("--plot needs matplotlib: pip install 'xstilts-harness[plot]'") from None
    lengths = [r for r in records if r["workload"] == "length"]
    languages = [r for r in records if r["workload"] == "language"]
    ratios = [(r, key) for r in records for key in ("ab", "vs_fp32") if key in r]
    panels = [p for p in (lengths, languages, ratios) if p]
    if not panels:
        raise HarnessError("no bench records to plot")
    figure, grid = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.8), squeeze=False)
    axes = list(grid[0])
    if lengths:
        ax = axes.pop(0)
        for key in sorted({(r["batch_size"], _arm(r), r["variant"]) for r in lengths}):
            points = sorted((r["length"], r["latency_ms"]["p50"]) for r in lengths
                            if (r["batch_size"], _arm(r), r["variant"]) == key)
            ax.plot(*zip(*points), marker="o", label=f"batch {key[0]}, {key[1]}, {key[2]}")
        ax.set(xlabel="tokens per row", ylabel="batch latency p50 (ms)", yscale="log", title="latency vs length")
        ax.legend(fontsize=7)
    if languages:
        ax = axes.pop(0)
        labels = sorted({r["language"] for r in languages})
        series = sorted({(r["batch_size"], _arm(r), r["variant"]) for r in languages})
        width = 0.8 / len(series)
        for i, key in enumerate(series):
            values = {r["language"]: r["example_latency_ms"]["p50"] for r in languages
                      if (r["batch_size"], _arm(r), r["variant"]) == key}
            ax.bar([j + i * width for j in range(len(labels))], [values.get(lang, 0.0) for lang in labels], width,
                   label=f"batch {key[0]}, {key[1]}, {key[2]}")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], labels)
        ax.set(ylabel="ms per example (p50)", title="per-language cost")
        ax.legend(fontsize=7)
    if ratios:
        ax = axes.pop(0)
        for y, (r, which) in enumerate(ratios):
            c = r[which]
            ax.errorbar(c["ratio"], y, xerr=[[c["ratio"] - c["ci95"][0]], [c["ci95"][1] - c["ratio"]]], fmt="o")
        margin = ratios[0][0][ratios[0][1]]["margin"]
        ax.axvspan(1 - margin, 1 + margin, alpha=0.15, label=f"±{margin * 100:g}% margin")
        ax.set_yticks(range(len(ratios)), [f"{_cell(r)} b{r['batch_size']} {r['variant']} {k} ({r[k]['verdict']})"
                                           for r, k in ratios], fontsize=7)
        ax.set(xlabel="p50 time ratio (95% CI)", title="A/B and vs fp32")
        ax.legend(fontsize=7)
    from harness.results.report import save_figure

    return save_figure(figure, path)


def bench_report(paths: list[str], fmt: str, plot: str | None, out: Any, console: Any, echo: Any) -> None:
    """``harness report --bench``: the tables in the chosen format (rich tables on ``out``, text
    through ``echo``), and the plot."""
    from harness.errors import HarnessError

    records = load_bench_records(paths)
    if not records:
        raise HarnessError(f"no bench records in {', '.join(paths)} (write them with harness bench --output)")
    if fmt == "table":
        render_bench(records, out)
    elif fmt == "md":
        echo(render_bench_markdown(records))
    elif fmt == "json":
        echo(json.dumps(bench_dict(records), indent=1, ensure_ascii=False))
    else:
        raise HarnessError("--bench: --format csv is not supported (table, md or json)")
    if plot:
        console.print(f"plot: {plot_bench(records, plot)}", highlight=False, markup=False)
