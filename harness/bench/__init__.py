"""Inference benchmarks (``harness bench``): statistics, inputs, variants, timing and the sweep.

stats.py     percentiles, bootstrap intervals (rounds resampled), turn order, TOST verdicts
inputs.py    synthetic exact-length batches from real tokens; per-language real inputs, fertility
variants.py  torch fp32 / dynamic int8 / bf16 / fp16, ONNX Runtime fp32 / int8, their sizes
measure.py   interleaved timing of a cell, its figures and comparisons, accuracy of a variant
models.py    loading the compared models with the task's head, one arm per variant
sweep.py     the whole benchmark -> ``bench`` records (harness/results/bench_records.py)
"""
