"""PAN-X (WikiANN as split by XTREME): named entity recognition with PER, ORG and LOC in IOB2.

Hub layout (``google/xtreme``): config ``PAN-X.<lang>`` per language, columns ``tokens`` (list of
str), ``ner_tags`` (list of ClassLabel ints, names in :data:`NER_TAGS` order) and ``langs`` (the
language code repeated per token, unused). Local sample rows use the same schema.
"""
from __future__ import annotations

from harness import hookimpl
from harness.formats.adapters import TokenTagsTask

#: the ClassLabel names of ``ner_tags`` on the hub, in code order
NER_TAGS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


@hookimpl
def harness_register_tasks(register):
    register(TokenTagsTask.variant("panx", tags="ner_tags", tag_names=NER_TAGS))
