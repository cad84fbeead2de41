"""The hook specs, their documentation (PLUGINS.md) and their tests must agree.

Adding, renaming or changing the arguments of a hook in harness/hookspecs.py fails here until
PLUGINS.md documents it with the same signature and some test under tests/ exercises it.
"""
from __future__ import annotations

import re
from pathlib import Path

import pluggy
import pytest

from harness import hookspecs
from harness.formats import BUILTIN_FORMATS, get_format

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
PLUGINS_MD = ROOT / "PLUGINS.md"
HEADING = re.compile(r"^### `(harness_\w+)\(([^)]*)\)`\s*$", re.MULTILINE)
DEF = re.compile(r"\bdef (harness_\w+)\(([^)]*)\)")


def spec_callers() -> dict[str, pluggy.HookCaller]:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return {name: caller for name, caller in vars(pm.hook).items()
            if name.startswith("harness_") and getattr(caller, "spec", None) is not None}


SPECS = spec_callers()
HOOKS = sorted(SPECS)


def argnames(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def doc_sections() -> dict[str, tuple[list[str], str]]:
    """hook name -> (argument names of its heading, text of its section)."""
    text = PLUGINS_MD.read_text(encoding="utf-8")
    matches = list(HEADING.finditer(text))
    sections: dict[str, tuple[list[str], str]] = {}
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        chapter = text.find("\n## ", match.end())
        if chapter != -1:
            end = min(end, chapter)
        assert match.group(1) not in sections, f"PLUGINS.md documents {match.group(1)} twice"
        sections[match.group(1)] = (argnames(match.group(2)), text[match.end():end])
    return sections


def test_the_hooks_are_the_expected_ones():
    # guards the parsing above: if this list changes, PLUGINS.md and the tests must follow
    assert HOOKS == sorted([
        "harness_register_formats", "harness_register_metrics", "harness_register_tasks",
        "harness_register_models", "harness_register_commands", "harness_register_suites",
        "harness_register_aliases", "harness_load_rows", "harness_load_model", "harness_intermediate_train", "harness_target_train",
        "harness_evaluate", "harness_result_written"])


# --------------------------------------------------------------------------------------------
# (a) the specs document themselves
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOOKS)
def test_spec_docstring_says_when_called_and_what_it_returns(name):
    doc = " ".join((getattr(hookspecs, name).__doc__ or "").split())
    assert len(doc) > 80, f"{name}: docstring too short"
    assert re.search(r"\bcalled\b", doc, re.IGNORECASE), f"{name}: docstring does not say when it is called"
    assert re.search(r"\breturns?\b|\breturn values?\b", doc, re.IGNORECASE), \
        f"{name}: docstring does not say what it returns"


def test_module_docstring_lists_every_hook_in_the_lifecycle():
    for name in HOOKS:
        assert name in hookspecs.__doc__, f"{name} missing from the lifecycle in harness/hookspecs.py"


def test_core_implementations_use_trylast():
    """The built-in phase implementations must let any plugin take over."""
    from harness.plugins import load_plugins

    plugins = load_plugins()
    for name in HOOKS:
        for impl in getattr(plugins.pm.hook, name).get_hookimpls():
            if impl.plugin_name.startswith("core.") and SPECS[name].spec.opts.get("firstresult"):
                assert impl.trylast, f"{impl.plugin_name}.{name} must be registered with trylast=True"


# --------------------------------------------------------------------------------------------
# (b) PLUGINS.md documents every hook with the spec's exact signature
# --------------------------------------------------------------------------------------------

def test_plugins_md_documents_every_hook():
    sections = doc_sections()
    missing = sorted(set(HOOKS) - set(sections))
    unknown = sorted(set(sections) - set(HOOKS))
    assert not missing, f"PLUGINS.md does not document: {missing}"
    assert not unknown, f"PLUGINS.md documents hooks that do not exist: {unknown}"


@pytest.mark.parametrize("name", HOOKS)
def test_plugins_md_signature_matches_spec(name):
    documented, _ = doc_sections()[name]
    assert documented == list(SPECS[name].spec.argnames), (
        f"PLUGINS.md: {name}({', '.join(documented)}) but harness/hookspecs.py: "
        f"{name}({', '.join(SPECS[name].spec.argnames)})")


@pytest.mark.parametrize("name", HOOKS)
def test_plugins_md_states_firstresult(name):
    _, section = doc_sections()[name]
    calling = next((line for line in section.splitlines() if line.startswith("**Calling:**")), None)
    assert calling is not None, f"PLUGINS.md: {name} has no '**Calling:**' line"
    firstresult = bool(SPECS[name].spec.opts.get("firstresult"))
    assert ("firstresult" in calling) is firstresult, f"PLUGINS.md: {name}: {calling!r}"
    if not firstresult:
        assert "all implementations" in calling


def test_plugins_md_examples_implement_real_hooks():
    """Every ``def harness_xxx(...)`` in PLUGINS.md is a hook and takes a subset of its arguments."""
    text = PLUGINS_MD.read_text(encoding="utf-8")
    found = DEF.findall(text)
    assert found, "PLUGINS.md has no example implementation"
    for name, args in found:
        assert name in SPECS, f"PLUGINS.md example implements unknown hook {name}"
        extra = set(argnames(args)) - set(SPECS[name].spec.argnames)
        assert not extra, f"PLUGINS.md example {name} takes arguments the spec does not have: {extra}"


def test_plugins_md_format_fields_match_the_formats():
    text = PLUGINS_MD.read_text(encoding="utf-8")
    for fmt_name in BUILTIN_FORMATS:
        row = next((line for line in text.splitlines() if line.startswith(f"| `{fmt_name}`")), None)
        assert row is not None, f"PLUGINS.md has no row for the {fmt_name} format"
        required = set(re.findall(r"`(\w+)`", row.split("|")[2]))
        assert required == {"id", *get_format(fmt_name).fields}, f"PLUGINS.md fields of {fmt_name}: {required}"


def test_signature_parser_catches_a_mismatch(tmp_path, monkeypatch):
    """The check above can fail: a doc with a renamed argument is caught."""
    text = PLUGINS_MD.read_text(encoding="utf-8").replace(
        "### `harness_load_rows(task, split, language, source)`", "### `harness_load_rows(task, split, lang, source)`")
    fake = tmp_path / "PLUGINS.md"
    fake.write_text(text, encoding="utf-8")
    monkeypatch.setitem(globals(), "PLUGINS_MD", fake)
    with pytest.raises(AssertionError, match=r"harness_load_rows\(task, split, lang, source\)"):
        test_plugins_md_signature_matches_spec("harness_load_rows")


# --------------------------------------------------------------------------------------------
# (c) every hook is exercised by some test
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", HOOKS)
def test_every_hook_has_a_test(name):
    pattern = re.compile(rf"\b{name}\b")
    users = [path.name for path in sorted(TESTS.glob("test_*.py"))
             if path.name != Path(__file__).name and pattern.search(path.read_text(encoding="utf-8"))]
    assert users, f"no test under tests/ mentions {name}: write one (see tests/test_plugins.py)"


# --------------------------------------------------------------------------------------------
# (d) the "writing a format" and "writing a metric" chapters describe the real interfaces
# --------------------------------------------------------------------------------------------

def chapter(title: str) -> str:
    text = PLUGINS_MD.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else len(text)]


def test_writing_a_format_documents_every_member_of_the_format_contract():
    from harness.formats.base import Format

    members = {name for name in vars(Format) if not name.startswith("_")}
    text = chapter("Writing a format")
    undocumented = sorted(name for name in members if f"| `{name}" not in text)
    assert not undocumented, f"PLUGINS.md 'Writing a format' does not document: {undocumented}"
    assert "examples/harness-example-format/" in text and "harness_register_formats" in text


def test_writing_a_metric_documents_every_field_of_metric():
    from dataclasses import fields

    from harness.metrics.registry import Metric

    text = chapter("Writing a metric")
    undocumented = sorted(f.name for f in fields(Metric) if f"| `{f.name}` |" not in text)
    assert not undocumented, f"PLUGINS.md 'Writing a metric' does not document: {undocumented}"
    assert "harness_register_metrics" in text and "main_score" in text


def test_chapter_check_catches_a_missing_member(monkeypatch):
    """The check above can fail: a Format member the chapter does not list is reported."""
    from harness.formats.base import Format

    monkeypatch.setattr(Format, "undocumented_hook", lambda self: None, raising=False)
    with pytest.raises(AssertionError, match="undocumented_hook"):
        test_writing_a_format_documents_every_member_of_the_format_contract()
