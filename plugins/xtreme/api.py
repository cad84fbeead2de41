"""The public names of the XTREME suite in one place (what ``harness.xtreme`` used to export)."""
from __future__ import annotations

from harness_plugins.xtreme.export import LAYOUTS, Layout, export_predictions, find_samples_dir
from harness_plugins.xtreme.mlqa import mlqa_em_f1, mlqa_normalize_answer
from harness_plugins.xtreme.scoring import (READERS, Coverage, file_suffix, mewslix_mrr, read_label, read_squad,
                                            read_tag, read_xcopa, score_file, score_folder, score_submission,
                                            score_task_language, squad_golds, write_report)
from harness_plugins.xtreme.tables import (HARNESS_TO_XTREME, LEADERBOARD_GROUPS, QA_TASKS, TAGGING_TASKS,
                                           UNSCORED_TASKS, VERSIONS, XTREME_GROUP2TASK, XTREME_R_GROUP2TASK,
                                           XTREME_R_TASK2LANGS, XTREME_TASK2LANGS, xtreme_task_name)

__all__ = ["LAYOUTS", "Layout", "export_predictions", "find_samples_dir", "mlqa_em_f1", "mlqa_normalize_answer",
           "READERS", "Coverage", "file_suffix", "mewslix_mrr", "read_label", "read_squad", "read_tag", "read_xcopa",
           "score_file", "score_folder", "score_submission", "score_task_language", "squad_golds", "write_report",
           "HARNESS_TO_XTREME", "LEADERBOARD_GROUPS", "QA_TASKS", "TAGGING_TASKS", "UNSCORED_TASKS", "VERSIONS",
           "XTREME_GROUP2TASK", "XTREME_R_GROUP2TASK", "XTREME_R_TASK2LANGS", "XTREME_TASK2LANGS",
           "xtreme_task_name"]
