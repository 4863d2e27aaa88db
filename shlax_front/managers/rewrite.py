"""One manager's commands in one RUN -> cache mounts and script edits: the generic rule every manager
shares, driven by its tables and hooks (``managers/base.py``).

The rule for every decision is "what ends up in the image?": a path inside a mounted cache never does, so
deleting it only empties the cache (the ``rm``, the clean-up verb, the flag or variable that disables the
cache is taken out); a cache a command deletes as a whole or reads is not mounted; what the manager needs to
keep its downloads is set for this run only. ``passes.plan_caching`` calls ``plan_manager`` once per manager
with an install in the RUN, after deciding who owns the caches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shlax_front import actions as A
from shlax_front import managers, shell
from shlax_front.managers.base import CLEAN, INSTALL, UPDATE, Invocation, Manager, Target
from shlax_front.managers.paths import relation, rm_paths

if TYPE_CHECKING:
    from shlax_front.passes import Context, Owner


@dataclass
class Plan:
    """What the caching of one RUN gathers, manager by manager."""

    mounts: list[A.CacheMount] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mask: list[str] = field(default_factory=list)
    wheelhouse: list[A.Wheelhouse] = field(default_factory=list)


def plan_manager(
    manager: type[Manager],
    invs: list[Invocation],
    script: shell.Script,
    ctx: Context,
    owner: Owner,
    spec: str | None,
    plan: Plan,
) -> bool:
    """Add ``manager``'s mounts and edits to ``plan``, as its tables and hooks say; ``owner`` owns the
    caches, ``spec`` is the user a command switches to (``su``...), if any. Returns True when a cache holding
    the package lists got mounted (the lists then stay out of the image)."""
    chosen = _chosen_targets(manager, invs, script, ctx, owner, plan)
    env_edits = _env_edits(manager, invs, script.text, ctx, plan)
    if env_edits is None:
        return False
    keep = _unconflicted(manager, chosen, script, ctx, owner, plan)
    if not keep:
        return False
    rm_edits = _rm_edits(manager, keep, script, ctx, owner, plan)
    if rm_edits is None:
        return False
    clean_edits = _clean_edits(manager, invs, keep, plan)
    flag_edits = _flag_edits(manager, invs, keep, script.text, plan)
    flag_edits += _park_edits(manager, keep, script, plan)
    plan.edits.extend(env_edits + rm_edits + clean_edits + flag_edits)
    _add_mounts(manager, keep, owner, spec, plan)
    installs = [i for i in invs if i.role == INSTALL]
    for inv in installs:
        if inv.command.conditional:
            plan.notes.append(
                f"{manager.name}: `{' '.join(inv.command.argv[:3])}` runs {inv.command.conditional}: "
                "cached all the same (the mount does not depend on whether it runs)"
            )
    for inv in installs:
        wheelhouse = manager.wheelhouse(inv)
        if wheelhouse is not None:
            plan.wheelhouse.append(wheelhouse)
    return any(t.cache.lists for t in keep)


def _chosen_targets(
    manager: type[Manager],
    invs: list[Invocation],
    script: shell.Script,
    ctx: Context,
    owner: Owner,
    plan: Plan,
) -> list[Target]:
    """The caches this RUN's commands use and the manager's ``blocker`` lets through."""
    installs = [i for i in invs if i.role == INSTALL]
    chosen = []
    for target in manager.cache_targets(owner, ctx.env, invs):
        only_for = target.cache.only_for
        if only_for and not any(i.command.name in only_for for i in installs):
            continue
        why = manager.blocker(target.cache, target.path, invs, script, ctx)
        if why:
            plan.notes.append(why)
            continue
        chosen.append(target)
    return chosen


def _env_edits(
    manager: type[Manager], invs: list[Invocation], text: str, ctx: Context, plan: Plan
) -> list[tuple[int, int, str]] | None:
    """Edits that switch off the environment variables that disable the cache (None, with a note, when
    the manager has no value that switches them off)."""
    edits: list[tuple[int, int, str]] = []
    for var in manager.defeating_env:
        in_scope = var in ctx.env
        for inv in invs:
            for w in inv.command.env:
                if w.value.split("=", 1)[0] == var:
                    if not manager.env_empty_disables:
                        plan.notes.append(f"{manager.name}: {var} set on the command: cache left off")
                        return None
                    if in_scope:  # the ENV value would apply again: switch it off explicitly
                        edits.append((w.start, w.end, f"{var}=''"))
                        plan.changes.append(
                            f"{manager.name}: `{w.value}` -> `{var}=` (only disables the cache)"
                        )
                    else:
                        edits.append(delete_word(text, w) if w.start > 0 else (w.start, w.end + 1, ""))
                        plan.changes.append(f"{manager.name}: dropped `{w.value}` (only disables the cache)")
            if in_scope and inv.role in (INSTALL, UPDATE) and inv.command.env_value(var) is None:
                if not manager.env_empty_disables:
                    plan.notes.append(f"{manager.name}: {var} set by ENV/ARG: cache left off")
                    return None
                edits.append((inv.command.start, inv.command.start, f"{var}='' "))
                plan.changes.append(
                    f"{manager.name}: `{var}=` for the command (ENV {var} only disables the cache)"
                )
    return edits


def _unconflicted(
    manager: type[Manager], chosen: list[Target], script: shell.Script, ctx: Context, owner: Owner, plan: Plan
) -> list[Target]:
    """The chosen caches that no command deletes as a whole or reads (a mount point cannot be deleted, and
    another command would see other builds' files)."""
    keep = []
    for target in chosen:
        conflict = _conflict(target, script, ctx, owner)
        if conflict and target.cache.standard and target.cache.env and not target.relocate:
            # the standard place is deleted or read by the script: the relocated one may not be
            moved = manager.relocated(target.cache, owner)
            if not _conflict(moved, script, ctx, owner):
                target, conflict = moved, None
        if conflict:
            plan.notes.append(f"{manager.name} cache {target.path} not mounted: {conflict}")
            continue
        keep.append(target)
    return keep


def _conflict(target: Target, script: shell.Script, ctx: Context, owner: Owner) -> str | None:
    """Why ``target`` cannot be mounted for ``script`` (a command deletes it as a whole or reads it), or None."""
    for _cmd, paths in rm_paths(script, ctx.env, owner.home):
        for word, path in paths:
            if path is None:
                return f"`rm {word.text}` deletes a path computed at run time"
            if relation(path, target.path) == "covers":
                return f"`rm {word.text}` deletes the cache directory {target.path} itself"
    return _reads_cache(script, target.path, owner.home)


def _rm_edits(
    manager: type[Manager], keep: list[Target], script: shell.Script, ctx: Context, owner: Owner, plan: Plan
) -> list[tuple[int, int, str]] | None:
    """Edits that drop the ``rm`` of paths inside a mounted cache (None, with a note, when one cannot be
    rewritten)."""
    kept_targets = [t.path for t in keep]
    edits: list[tuple[int, int, str]] = []
    for cmd, paths in rm_paths(script, ctx.env, owner.home):
        inside = [
            (w, p)
            for w, p in paths
            if p is not None and any(relation(p, t) == "inside" for t in kept_targets)
        ]
        if not inside:
            continue
        if cmd.start < 0:
            plan.notes.append(f"{manager.name}: `rm` inside a quoted string cannot be rewritten")
            return None
        if len(inside) == len(paths):
            edits.append(neutralise_command(cmd))
        else:
            edits.extend(delete_word(script.text, w) for w, _ in inside)
        plan.changes.append(
            f"{manager.name}: dropped `rm {' '.join(w.text for w, _ in inside)}` "
            "(would only empty the mounted cache)"
        )
    return edits


def _clean_edits(
    manager: type[Manager], invs: list[Invocation], keep: list[Target], plan: Plan
) -> list[tuple[int, int, str]]:
    """Edits that drop the clean-up commands whose caches are all mounted."""
    mounted = {t.cache.id for t in keep}
    edits = []
    for inv in invs:
        if inv.role != CLEAN or not manager.is_cleanup(inv):
            continue
        if not set(manager.clean_empties.get(inv.verb, ())) <= mounted:
            continue  # it also empties a cache that is not mounted, whose content is in the image: keep it
        edits.append(neutralise_command(inv.command))
        plan.changes.append(
            f"{manager.name}: dropped `{' '.join(inv.command.argv)}` (would only empty the mounted cache)"
        )
    return edits


def _flag_edits(
    manager: type[Manager], invs: list[Invocation], keep: list[Target], text: str, plan: Plan
) -> list[tuple[int, int, str]]:
    """Edits on the install and update commands: flags that defeat the cache dropped or replaced, the
    run-only flags that keep downloads added, relocated caches pointed at."""
    edits = []
    for inv in invs:
        if inv.role not in (INSTALL, UPDATE):
            continue
        for w in inv.option_words:
            v = w.value
            if v in manager.defeating_flags or v.split("=", 1)[0] in manager.defeating_flags:
                edits.append(delete_word(text, w))
                plan.changes.append(f"{manager.name}: dropped `{v}` (only disables the cache)")
            elif v in manager.replaced_flags:
                edits.append((w.start, w.end, manager.replaced_flags[v]))
                plan.changes.append(
                    f"{manager.name}: `{v}` -> `{manager.replaced_flags[v]}` (same packages, cache kept)"
                )
        if manager.keep_flags and inv.verb_word is not None and inv.role in manager.keep_flag_roles:
            flags = " ".join(manager.keep_flags)
            edits.append((inv.verb_word.end, inv.verb_word.end, " " + flags))
            plan.changes.append(f"{manager.name}: `{flags}` for this run only (keeps downloaded packages)")
        if inv.role == INSTALL and inv.command.name in manager.executable_keep_flags:
            option, why = manager.executable_keep_flags[inv.command.name]
            program = inv.command.args[0]
            edits.append((program.end, program.end, " " + option))
            plan.changes.append(f"{manager.name}: `{option}` ({why})")
        for target in keep:
            if target.relocate:
                edits.append(_set_env_for(inv.command, target.relocate, target.path))
    return edits


def _park_edits(
    manager: type[Manager], keep: list[Target], script: shell.Script, plan: Plan
) -> list[tuple[int, int, str]]:
    """The edit that parks a mounted cache's ``CleanHook`` for the run (none, with a note, when the script
    could undo the parking itself)."""
    text = script.text
    edits = []
    for target in keep:
        hook = target.cache.clean_hook
        if hook is None:
            continue
        if "trap" in script.notes or any(c.words and c.words[0].value == "exec" for c in script.commands):
            plan.notes.append(
                f"{manager.name}: the script uses trap/exec, {hook.name} hook left in place "
                f"({hook.deletes} not kept)"
            )
        elif hook.name in text:
            plan.notes.append(
                f"{manager.name}: the script touches {hook.name} itself, hook left in place "
                f"({hook.deletes} not kept)"
            )
        else:
            at = 0
            if text.startswith("#!"):
                at = text.find("\n") + 1 if "\n" in text else len(text)
            at += len(text[at:]) - len(text[at:].lstrip(" \t"))  # after the first line's indentation
            edits.append((at, at, hook.park_prefix))
            plan.mask.append(hook.path)
            plan.changes.append(
                f"{manager.name}: {hook.name} hook parked for this run only (it deletes downloaded {hook.deletes})"
            )
    return edits


def _add_mounts(
    manager: type[Manager], keep: list[Target], owner: Owner, spec: str | None, plan: Plan
) -> None:
    """The cache mounts, owned by the RUN's user for a user-owned manager, with one lock per manager."""
    first_mount = len(plan.mounts)
    for cache, target, _relocate in keep:
        uid = owner.uid if manager.user_owned and owner.uid else None
        gid = owner.gid if manager.user_owned and owner.gid else None
        sharing = cache.sharing
        if sharing == "locked" and any(m.sharing == "locked" for m in plan.mounts[first_mount:]):
            sharing = "shared"  # one lock per manager and RUN: see ``_buildah_128_lock_order``
        plan.mounts.append(
            A.CacheMount(
                id=cache.id,
                target=target,
                sharing=sharing,
                uid=uid,
                gid=gid,
                user=owner.name if manager.user_owned else None,
                partition=cache.partition,
                host=cache.host,
            )
        )
        owned = f", owned by `{spec}` (the user the command switches to)" if spec is not None else ""
        plan.changes.append(
            f"{manager.name}: cache {target} mounted ({cache.what or manager.description}){owned}"
        )


def _reads_cache(script: shell.Script, target: str, home: str | None) -> str | None:
    """A command other than a package manager or ``rm`` that names a path in the cache directory would see
    other builds' files there (``cp /var/cache/apt/archives/*.deb /debs``): then the cache is not mounted."""
    for cmd in script.commands:
        if not cmd.args or cmd.name == "rm" or managers.find(cmd) is not None:
            continue
        for w in cmd.words[cmd.argv_index + 1 :]:
            value = w.value
            if w.text.startswith("~/") and home:
                value = home + w.text[1:]
            for candidate in (value, value.split("=", 1)[-1]):
                if candidate == target or candidate.startswith(target.rstrip("/") + "/"):
                    return f"`{cmd.name} {w.text}` uses the cache directory itself"
    return None


def _set_env_for(cmd: shell.Command, name: str, value: str) -> tuple[int, int, str]:
    """The edit that sets ``name=value`` for ``cmd``'s program: a prefix assignment, or ``env NAME=value``
    right before the program when a wrapper (``sudo`` resets the environment, ``gosu``, ``xargs``...) stands
    between the start of the command and the program."""
    if cmd.argv_index == 0:
        return (cmd.start, cmd.start, f"{name}={value} ")
    program = cmd.args[0]
    return (program.start, program.start, f"env {name}={value} ")


def delete_word(text: str, word: shell.Word) -> tuple[int, int, str]:
    start = word.start
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    return (start, word.end, "")


def neutralise_command(cmd: shell.Command) -> tuple[int, int, str]:
    """Remove a command from its ``&&``/``;`` chain, or replace it with ``true`` where it cannot go."""
    if cmd.removable and cmd.removal:
        return (cmd.removal[0], cmd.removal[1], "")
    first = cmd.words[0] if cmd.words else None
    last = cmd.words[-1]
    start = (
        cmd.env[0].start
        if cmd.env and cmd.env[0].start < (first.start if first else 1 << 30)
        else first.start
    )
    return (start, last.end, "true")
