"""IR -> IR rewrites. Each pass is a pure function ``(stages) -> stages``; ``PASSES`` is their order.

The one rewrite that matters is *cache attachment*: for each recognised install, mount its manager's
download cache for that RUN only and neutralise what merely defeats the cache - and nothing else. The
rule for every decision below is "what ends up in the image?":

- A path inside a mounted cache never reaches the image, so deleting it (``rm -rf /var/lib/apt/lists/*``,
  ``apt-get clean``, ``npm cache clean``) only empties the cache: neutralised.
- Deleting the cache directory itself (``rm -rf /var/cache/yum``) would fail on a mount point and the
  original image lacks the directory: that cache is not mounted.
- apt lists are only mounted when the same RUN updates them and deletes them afterwards; otherwise the
  image keeps them (later ``apt-get install`` without update relies on that). apk's index likewise.
- Settings needed to keep downloads go on the command line (``--setopt=keepcache=1``,
  ``-o APT::Keep-Downloaded-Packages=true``) or are undone when the RUN exits (``docker-clean``): they
  never persist.

Anything a pass cannot decide leaves that install uncached, with a note saying why. Which caches a manager
has, who owns them and what defeats them are its tables and hooks in ``managers/``; ``managers/rewrite.py``
turns them into one RUN's mounts and edits. This module walks the stages, finds the installs, decides who owns
the caches (USER, ``su``...) and applies the edits.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from shlax_front import actions as A
from shlax_front import instructions as I
from shlax_front import managers, runbody, shell
from shlax_front.managers.base import CLEAN, INSTALL, UPDATE, Invocation, Manager
from shlax_front.managers.paths import expand_simple, relation, rm_paths
from shlax_front.managers.rewrite import Plan, plan_manager
from shlax_front.scope import Scope


@dataclass
class Context:
    """What a RUN can see at its place in the stage: USER and the ENV/ARG values."""

    user: str = ""
    env: dict[str, str] = field(default_factory=dict)
    #: apt lists may already be in the image (an earlier RUN updated without deleting them)
    apt_lists_in_image: bool = False

    def copy(self) -> Context:
        return Context(self.user, dict(self.env), self.apt_lists_in_image)


@dataclass
class Owner:
    uid: int | None
    gid: int | None
    name: str | None
    home: str | None

    @property
    def root(self) -> bool:
        return self.uid == 0


def owner_of(ctx: Context) -> Owner:
    spec = ctx.user.strip()
    user, _, group = spec.partition(":")
    if user in ("", "root", "0"):
        return Owner(0, _int(group, 0), None, ctx.env.get("HOME", "/root"))
    if user.isdigit():
        gid = _int(group, None) if group else None
        return Owner(
            int(user), gid if gid is not None else int(user) if not group else None, None, ctx.env.get("HOME")
        )
    return Owner(None, None, spec, ctx.env.get("HOME"))


def switched_owner(spec: str, ctx: Context) -> Owner | None:
    """The owner of a command run through ``su``/``gosu``/``runuser``/``sudo -u`` as ``spec`` (None: the user
    is computed at run time). A name is left to the executor, which reads the container's /etc/passwd; so is
    a bare uid (its group comes from /etc/passwd too). HOME is that user's, so it is never known here."""
    user, _, group = spec.partition(":")
    if "$" in spec:
        resolved = expand_simple(user, ctx.env) if user.startswith("$") else None
        if resolved is None or "$" in group:
            return None
        user = resolved
    if user in ("root", "0") and not group:
        return Owner(0, 0, None, "/root")
    if user.isdigit() and group.isdigit():
        return Owner(int(user), int(group), None, None)
    return Owner(None, None, f"{user}:{group}" if group else user, None)


def _int(text: str, default):
    return int(text) if text.isdigit() else default


# --------------------------------------------------------------------------------------------------------------
# Edits on a script
# --------------------------------------------------------------------------------------------------------------


def apply_edits(text: str, edits) -> str:
    """Apply (start, end, replacement) edits; an edit inside an earlier, larger one is dropped."""
    out: list[str] = []
    pos = 0
    for start, end, repl in sorted(edits, key=_edit_order):
        if start < pos:
            continue
        out.append(text[pos:start])
        out.append(repl)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _edit_order(edit) -> tuple[int, int, int]:
    """Insertions before deletions at the same place, larger spans first."""
    return (edit[0], 0 if edit[1] == edit[0] else 1, -edit[1])


def normalise_edits(edits) -> tuple[tuple[int, int, str], ...]:
    kept: list[tuple[int, int, str]] = []
    pos = -1
    for e in sorted(edits, key=_edit_order):
        if e[0] < pos:
            continue
        kept.append(e)
        pos = e[1] if e[1] > e[0] else pos
    return tuple(kept)


# --------------------------------------------------------------------------------------------------------------
# Cache attachment
# --------------------------------------------------------------------------------------------------------------


def script_of(action: A.RunLike) -> str | None:
    if action.exec_form:
        return None
    if action.heredocs:
        return runbody.read(action.run, action.heredocs).script
    return action.run


def plan_caching(action: A.RunLike, ctx: Context) -> tuple[A.Caching | None, list[str], bool]:
    """(caching, notes, lists_mounted) for one RUN-derived action."""
    text = script_of(action)
    if text is None:
        return None, [], False
    script = shell.parse(text)
    if script.opaque:
        return None, [script.opaque], False
    invocations: list[Invocation] = []
    for cmd in script.commands:
        m = managers.find(cmd)
        if m is not None:
            invocations.append(m.invocation(cmd, ctx.env))
    by_manager: dict[type[Manager], list[Invocation]] = {}
    for inv in invocations:
        by_manager.setdefault(inv.manager, []).append(inv)
    plan = Plan()
    lists_mounted = False
    if _has_own_cache_mount(action):
        plan.notes.append("the RUN already has its own --mount=type=cache: left as written")
        return None, plan.notes, False
    for manager, invs in by_manager.items():
        if not any(i.role == INSTALL for i in invs):
            continue
        if any(i.command.start < 0 for i in invs if i.role in (INSTALL, UPDATE, CLEAN)):
            plan.notes.append(f"{manager.name}: inside a quoted sh -c string with escapes: not rewritten")
            continue
        owners = _mount_owner(manager, invs, ctx, plan)
        if owners is not None:
            owner, spec = owners
            lists_mounted |= plan_manager(manager, invs, script, ctx, owner, spec, plan)
    if not plan.mounts:
        return None, plan.notes, False
    edits = normalise_edits(plan.edits)
    new_script = apply_edits(text, edits)
    if not new_script.strip():
        new_script = "true"
    if action.heredocs and not runbody.is_script_form(action.run, action.heredocs):
        # ``RUN <<EOF bash``: the shell still reads the (rewritten) body on stdin
        new_script = runbody.full_command(action.run, action.heredocs, apply_edits(text, edits))
    caching = A.Caching(
        mounts=_buildah_128_lock_order(plan.mounts),
        mask=tuple(plan.mask),
        script=new_script,
        edits=edits,
        changes=tuple(plan.changes),
        wheelhouse=tuple(plan.wheelhouse),
    )
    return caching, plan.notes, lists_mounted


def _buildah_128_lock_order(mounts: list[A.CacheMount]) -> tuple[A.CacheMount, ...]:
    """The mounts with the locked ones last. buildah 1.28 only releases the lock of the *last* cache mount of a
    RUN, and keeps the lock file inside the cache directory (buildah#4342: ``apt-get update`` deletes it from
    the lists directory): a locked mount anywhere else, or a second one, makes the next RUN of the same build
    that locks that cache wait forever. So each manager locks only its first cache (apt archives, dnf's cache),
    which serialises every RUN using the manager's other caches too, and that mount goes last."""
    return tuple(sorted(mounts, key=lambda m: m.sharing == "locked"))


def _has_own_cache_mount(action: A.RunLike) -> bool:
    """True when the RUN's own ``--mount`` flags (read as BuildKit reads them) include a cache mount, or one
    that cannot be read (a recipe's hand-written string): either way the RUN is left as written."""
    for raw in action.mounts:
        try:
            if I.parse_mount(raw).type == "cache":
                return True
        except ValueError:
            return True
    return False


def _mount_owner(
    manager: type[Manager], invs: list[Invocation], ctx: Context, plan: Plan
) -> tuple[Owner, str | None] | None:
    """(owner of the caches, the user a command switches to with ``su``/``gosu``/... or None); None, with a
    note, when that user cannot be known here or a system manager would not run as root."""
    owner = owner_of(ctx) if manager.user_owned else Owner(0, 0, None, "/root")
    if manager.user_owned and owner.uid is None and owner.name is None:
        plan.notes.append(f"{manager.name}: USER {ctx.user!r} not understood")
        return None
    switched = {i.command.run_as for i in invs if i.role in (INSTALL, UPDATE, CLEAN)}
    if len(switched) > 1:
        plan.notes.append(
            f"{manager.name}: runs as several users in this RUN ({_users(switched)}): not cached"
        )
        return None
    spec = switched.pop() if switched else None
    if spec is not None:
        as_user = switched_owner(spec, ctx)
        if as_user is None:
            plan.notes.append(f"{manager.name}: runs as `{spec}`, a user computed at run time: not cached")
            return None
        if not manager.user_owned and not as_user.root:
            plan.notes.append(f"{manager.name}: runs as `{spec}`, not root: not cached")
            return None
        if manager.user_owned:
            owner = as_user
    return owner, spec


def _users(specs) -> str:
    return ", ".join(sorted(s if s is not None else "the RUN's user" for s in specs))


# --------------------------------------------------------------------------------------------------------------
# The passes
# --------------------------------------------------------------------------------------------------------------


def attach_caches(stages: tuple[A.Stage, ...]) -> tuple[A.Stage, ...]:
    """Give every recognised install its cache mounts and the script rewrites that keep the cache useful.

    What a RUN sees (USER, ENV, ARG values) is the scope the walker recorded on its action; whether apt lists may
    already be in the image is followed here, from the stage a stage is built on."""
    out: list[A.Stage] = []
    lists_at_end: dict[int, bool] = {}  # stage index -> an earlier RUN left apt lists in the image
    for stage in stages:
        lists_in_image = lists_at_end.get(stage.base_stage, False) if stage.base_stage is not None else False
        new_actions: list[A.Action] = []
        for action in stage.actions:
            if isinstance(action, A.RunLike):
                installs = action.installs if isinstance(action, A.Run) else (action,)
                lists = False
                if installs and not (isinstance(action, A.Run) and action.notes):
                    ctx = context_of(action, lists_in_image)
                    caching, notes, lists = plan_caching(action, ctx)
                    action = action.evolve(caching=caching, notes=tuple(action.notes) + tuple(notes))
                if _updates_apt_lists(action) and not lists:
                    lists_in_image = lists_in_image or not _removes_apt_lists(action)
            new_actions.append(action)
        out.append(stage.evolve(actions=tuple(new_actions)))
        lists_at_end[stage.index] = lists_in_image
    return tuple(out)


def context_of(action: A.Action, apt_lists_in_image: bool = False) -> Context:
    """The ``Context`` of a RUN from the scope the walker recorded on its action (a root scope without one)."""
    scope = action.step.scope if action.step is not None else Scope()
    return Context(user=scope.user, env=scope.visible(), apt_lists_in_image=apt_lists_in_image)


def _updates_apt_lists(action: A.RunLike) -> bool:
    text = action.run if isinstance(action.run, str) else " ".join(action.run)
    text += "".join(h.content for h in action.heredocs)
    return bool(re.search(r"\bapt(-get)?\b.*\bupdate\b", text, re.S))


def _removes_apt_lists(action: A.RunLike) -> bool:
    text = script_of(action)
    if text is None:
        return False
    script = shell.parse(text)
    if script.opaque:
        return False
    return any(
        p and relation(p, "/var/lib/apt/lists") == "inside"
        for _, paths in rm_paths(script, {}, None)
        for _, p in paths
    )


PASSES: tuple[Callable[[tuple[A.Stage, ...]], tuple[A.Stage, ...]], ...] = (attach_caches,)


def run_passes(stages: tuple[A.Stage, ...], passes=PASSES) -> tuple[A.Stage, ...]:
    for p in passes:
        stages = p(stages)
    return stages
