"""``explain``: per instruction, what was recognised, what a rewrite does and why, what was left alone.

Reads the same IR as the optimizer and the executor (lowered, then passed through ``PASSES``), so what
it says is exactly what they do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from shlax_front import actions as A
from shlax_front.lower import lower
from shlax_front.parser import parse
from shlax_front.passes import run_passes
from shlax_front.syntax import Document


@dataclass
class Entry:
    """One instruction's explanation."""

    line: int
    instruction: str
    action: str
    status: str  # "rewritten" | "recognised" | "left alone" | "config"
    installs: list[dict] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    mounts: list[dict] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def describe_install(install: A.Install) -> dict:
    data: dict = {"kind": type(install).__name__, "packages": list(install.packages)}
    if isinstance(install, A.Packages):
        data.update(manager=install.manager, update=install.update)
        if install.virtual:
            data["virtual"] = install.virtual
    elif isinstance(install, A.Pip):
        data.update(
            manager=install.tool,
            requirements=list(install.requirements),
            editable=list(install.editable),
            user=install.user,
        )
    elif isinstance(install, A.Npm):
        data.update(manager=install.tool, verb=install.verb)
        if install.cwd:
            data["cwd"] = install.cwd
    return data


def explain_document(doc: Document, build_args: Mapping[str, str] | None = None) -> list[Entry]:
    from shlax_front.optimizer import optimize_document

    optimised = optimize_document(doc, build_args)
    stages = run_passes(lower(doc, build_args))
    entries: list[Entry] = []
    by_node: dict[int, A.Action] = {}
    for stage in stages:
        by_node[stage.node] = stage
        for action in stage.actions:
            by_node[action.node] = action
    for index, node in enumerate(doc.nodes):
        text = " ".join(doc.source_of(node).split())
        if len(text) > 100:
            text = text[:97] + "..."
        action = by_node.get(index)
        entry = Entry(
            line=node.start_line,
            instruction=text,
            action=type(action).__name__ if action else "-",
            status="config",
        )
        if isinstance(action, A.RunLike):
            installs = list(action.installs) if isinstance(action, A.Run) else [action]
            entry.installs = [describe_install(i) for i in installs]
            entry.reasons = list(action.notes)
            if index in optimised.skipped:
                entry.reasons.append(optimised.skipped[index])
            if action.caching is not None:
                entry.changes = list(action.caching.changes)
                entry.mounts = [
                    {k: v for k, v in m.__dict__.items() if v is not None} for m in action.caching.mounts
                ]
                entry.status = "rewritten" if index in optimised.changed else "recognised"
            elif installs:
                entry.status = "recognised"
                if not entry.reasons:
                    entry.reasons.append("no cache could be attached")
            else:
                entry.status = "left alone"
                if not entry.reasons:
                    entry.reasons.append("no package install recognised")
        entries.append(entry)
    return entries


def explain(
    text: str, path: str = "Containerfile", build_args: Mapping[str, str] | None = None
) -> list[Entry]:
    return explain_document(parse(text, path), build_args)


def summary(entries: list[Entry]) -> dict:
    """Counts for the whole file: RUN instructions, installs recognised per manager, RUNs rewritten."""
    managers: dict[str, int] = {}
    runs = rewritten = 0
    for e in entries:
        if e.action in ("-",) or e.status == "config":
            continue
        runs += 1
        rewritten += e.status == "rewritten"
        for inst in e.installs:
            name = str(inst.get("manager"))
            managers[name] = managers.get(name, 0) + 1
    return {"runs": runs, "rewritten": rewritten, "installs": managers}


def format_entries(entries: list[Entry], path: str) -> str:
    lines: list[str] = []
    for e in entries:
        if e.status == "config":
            continue
        lines.append(f"{path}:{e.line}: {e.instruction}")
        lines.append(f"  {e.status}")
        for inst in e.installs:
            pk = " ".join(inst["packages"]) or (
                "(the project's dependencies)" if inst["kind"] == "Npm" else "-"
            )
            extra = ""
            if inst.get("requirements"):
                extra += " requirements: " + " ".join(inst["requirements"])
            if inst.get("update"):
                extra += " (after an index update)"
            lines.append(f"  {inst['kind']} via {inst.get('manager')}: {pk}{extra}")
        for change in e.changes:
            lines.append(f"  + {change}")
        for reason in e.reasons:
            lines.append(f"  - {reason}")
    total = summary(entries)
    installs = ", ".join(f"{k} {v}" for k, v in sorted(total["installs"].items())) or "none"
    lines.append(
        f"{path}: {total['runs']} RUN instruction(s), {total['rewritten']} rewritten; installs: {installs}"
    )
    return "\n".join(lines) + "\n"
