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

Anything a pass cannot decide leaves that install uncached, with a note saying why.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shlax_front import actions as A
from shlax_front import instructions as I
from shlax_front import managers, runbody, shell
from shlax_front.managers.base import CLEAN, INSTALL, UPDATE, Invocation, Manager
from shlax_front.scope import Scope

#: Where the language package managers' caches are mounted (their env variable points them there): a
#: directory directly under /tmp, so no parent directory is ever created in the image for the mount point.
RELOCATED_PREFIX = "/tmp/.shlax-front-"
#: The apt hook of the official images that deletes downloaded .debs, and where it is parked during a RUN.
APT_CLEAN_HOOK = "/etc/apt/apt.conf.d/docker-clean"
APT_CLEAN_PARKED = "/etc/apt/docker-clean.shlax-front"
APT_PARK_PREFIX = (
    f"mv {APT_CLEAN_HOOK} {APT_CLEAN_PARKED} 2>/dev/null "
    f"&& trap 'mv {APT_CLEAN_PARKED} {APT_CLEAN_HOOK}' EXIT; "
)


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
        resolved = _expand_simple(user, ctx.env) if user.startswith("$") else None
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


# --------------------------------------------------------------------------------------------------------------
# Paths touched by rm
# --------------------------------------------------------------------------------------------------------------


def rm_paths(script: shell.Script, ctx_env: Mapping[str, str], home: str | None):
    """(command, [(word, path or None)]) for each ``rm`` with its path arguments (None: computed)."""
    for cmd in script.commands:
        if cmd.name != "rm" or cmd.conditional == "inside $(...)":
            continue
        paths = []
        options_done = False
        for w in cmd.args[1:]:
            if not options_done and w.value.startswith("-") and not w.dynamic:
                if w.value == "--":
                    options_done = True
                continue
            value: str | None = w.value
            if w.dynamic:
                if w.text.startswith("~/") and home and "$" not in w.text:
                    value = home + w.text[1:]
                else:
                    value = _expand_simple(w.text, ctx_env)
            paths.append((w, value))
        yield cmd, paths


def _expand_simple(text: str, env: Mapping[str, str]) -> str | None:
    """``$VAR/rest`` / ``${VAR}/rest`` with VAR known and no quotes: the expanded path, else None."""
    if any(c in text for c in "\"'`(") or text.count("$") != 1:
        return None
    m = re.match(r"^\$(?:\{(\w+)\}|(\w+))(.*)$", text)
    if not m:
        return None
    name = m.group(1) or m.group(2)
    if name not in env:
        return None
    return env[name] + m.group(3)


def relation(path: str, target: str) -> str | None:
    """``inside`` when deleting ``path`` only touches content under ``target``, ``covers`` when it would
    delete ``target`` itself (or an ancestor), None when unrelated."""
    if not path.startswith("/"):
        return None
    p = posixpath.normpath(path) if not any(c in path for c in "*?[") else path.rstrip("/")
    t = target.rstrip("/")
    ancestors = [t]
    while True:
        parent = posixpath.dirname(ancestors[-1])
        if parent == ancestors[-1]:
            break
        ancestors.append(parent)
    glob = any(c in p for c in "*?[")
    for a in ancestors:
        if _glob_match(a, p) if glob else a == p:
            return "covers"
    if p.startswith(t + "/"):
        return "inside"
    return None


def _glob_match(path: str, pattern: str) -> bool:
    """Shell pathname matching: per component, and a leading ``*``/``?`` never matches a leading dot."""
    parts, pats = path.split("/"), pattern.split("/")
    if len(parts) != len(pats):
        return False
    for part, pat in zip(parts, pats, strict=True):
        if part.startswith(".") and not pat.startswith("."):
            return False
        if not fnmatch.fnmatchcase(part, pat):
            return False
    return True


# --------------------------------------------------------------------------------------------------------------
# Cache attachment
# --------------------------------------------------------------------------------------------------------------


@dataclass
class Plan:
    mounts: list[A.CacheMount] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mask: list[str] = field(default_factory=list)
    wheelhouse: list[A.Wheelhouse] = field(default_factory=list)


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
        lists_mounted |= plan_manager(manager, invs, script, ctx, plan)
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


def _cache_targets(manager: type[Manager], owner: Owner, ctx: Context, invs: list[Invocation]):
    """(CacheDir, target, relocate_env) per cache of ``manager`` for this user; relocate_env is set when the
    target had to be moved (home unknown) and the manager must be told by environment variable."""
    out = []
    for cache in manager.caches:
        relocate = None
        prefix_values = {
            i.command.env_value(cache.env) for i in invs if cache.env and i.command.env_value(cache.env)
        }
        if cache.env and cache.env in ctx.env:
            target = ctx.env[cache.env]
        elif len(prefix_values) == 1:
            target = prefix_values.pop()
        elif "{home}" in cache.target and cache.env:
            # A user's cache directory is relocated to a directory directly under /tmp: its parents may not
            # exist in the image, and buildah 1.28 leaves the parents it creates for a mount point behind.
            # one directory per user: a cache created for one uid is not writable by another
            suffix = (
                f"-{owner.uid}"
                if owner.uid
                else (f"-{re.sub(r'[^A-Za-z0-9_.-]', '-', owner.name)}" if owner.name else "")
            )
            target = f"{RELOCATED_PREFIX}{cache.id}{suffix}"
            relocate = cache.env
        elif "{home}" in cache.target:
            if not owner.home:
                continue
            target = cache.target.format(home=owner.home.rstrip("/") or "")
        else:
            target = cache.target
        out.append((cache, target, relocate))
    return out


def plan_manager(
    manager: type[Manager], invs: list[Invocation], script: shell.Script, ctx: Context, plan: Plan
) -> bool:
    """Add ``manager``'s mounts and edits to ``plan``; returns True when apt lists got mounted."""
    text = script.text
    owner = owner_of(ctx) if manager.family != "system" else Owner(0, 0, None, "/root")
    if manager.family != "system" and owner.uid is None and owner.name is None:
        plan.notes.append(f"{manager.name}: USER {ctx.user!r} not understood")
        return False
    switched = {i.command.run_as for i in invs if i.role in (INSTALL, UPDATE, CLEAN)}
    if len(switched) > 1:
        plan.notes.append(
            f"{manager.name}: runs as several users in this RUN ({_users(switched)}): not cached"
        )
        return False
    spec = switched.pop() if switched else None
    if spec is not None:
        as_user = switched_owner(spec, ctx)
        if as_user is None:
            plan.notes.append(f"{manager.name}: runs as `{spec}`, a user computed at run time: not cached")
            return False
        if manager.family == "system" and not as_user.root:
            plan.notes.append(f"{manager.name}: runs as `{spec}`, not root: not cached")
            return False
        owner = as_user if manager.family != "system" else owner
    targets = _cache_targets(manager, owner, ctx, invs)
    installs = [i for i in invs if i.role == INSTALL]
    chosen: list[tuple] = []
    lists = False
    for cache, target, relocate in targets:
        if manager.name == "apt" and cache.id == "apt-lists":
            why = _apt_lists_blocker(invs, script, ctx, target)
            if why:
                plan.notes.append(f"apt lists not cached: {why}")
                continue
            lists = True
        if (
            manager.name == "dnf"
            and cache.id == "libdnf5-cache"
            and not any(i.command.name == "dnf5" or i.command.name == "dnf" for i in installs)
        ):
            continue
        chosen.append((cache, target, relocate))
    if manager.name == "apk":
        why = _apk_blocker(invs, script, ctx)
        if why:
            plan.notes.append(f"apk cache not mounted: {why}")
            return False
    # environment that disables the cache
    env_edits: list[tuple[int, int, str]] = []
    for var in manager.defeating_env:
        in_scope = var in ctx.env
        for inv in invs:
            for w in inv.command.env:
                if w.value.split("=", 1)[0] == var:
                    if not manager.env_empty_disables:
                        plan.notes.append(f"{manager.name}: {var} set on the command: cache left off")
                        return False
                    if in_scope:  # the ENV value would apply again: switch it off explicitly
                        env_edits.append((w.start, w.end, f"{var}="))
                        plan.changes.append(
                            f"{manager.name}: `{w.value}` -> `{var}=` (only disables the cache)"
                        )
                    else:
                        env_edits.append(delete_word(text, w) if w.start > 0 else (w.start, w.end + 1, ""))
                        plan.changes.append(f"{manager.name}: dropped `{w.value}` (only disables the cache)")
            if in_scope and inv.role in (INSTALL, UPDATE) and inv.command.env_value(var) is None:
                if not manager.env_empty_disables:
                    plan.notes.append(f"{manager.name}: {var} set by ENV/ARG: cache left off")
                    return False
                env_edits.append((inv.command.start, inv.command.start, f"{var}= "))
                plan.changes.append(
                    f"{manager.name}: `{var}=` for the command (ENV {var} only disables the cache)"
                )
    # rm of cache paths
    rm_edits: list[tuple[int, int, str]] = []
    keep: list[tuple] = []
    for cache, target, relocate in chosen:
        conflict = None
        for _cmd, paths in rm_paths(script, ctx.env, owner.home):
            for word, path in paths:
                if path is None:
                    conflict = f"`rm {word.text}` deletes a path computed at run time"
                    break
                if relation(path, target) == "covers":
                    conflict = f"`rm {word.text}` deletes the cache directory {target} itself"
                    break
            if conflict:
                break
        if not conflict:
            conflict = _reads_cache(script, target, owner.home)
        if conflict:
            plan.notes.append(f"{manager.name} cache {target} not mounted: {conflict}")
            if cache.id == "apt-lists":
                lists = False
            continue
        keep.append((cache, target, relocate))
    if not keep:
        return False
    kept_targets = [t for _, t, _ in keep]
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
            return False
        if len(inside) == len(paths):
            rm_edits.append(neutralise_command(cmd))
        else:
            rm_edits.extend(delete_word(text, w) for w, _ in inside)
        plan.changes.append(
            f"{manager.name}: dropped `rm {' '.join(w.text for w, _ in inside)}` "
            "(would only empty the mounted cache)"
        )
    # clean-up verbs
    clean_edits = []
    for inv in invs:
        if inv.role == CLEAN and manager.is_cleanup(inv):
            if manager.name == "apt" and "/var/cache/apt" not in kept_targets:
                continue
            if (
                inv.verb in getattr(manager, "lists_clean_verbs", ())
                and "/var/lib/apt/lists" not in kept_targets
            ):
                continue  # it also deletes the lists, which are in the image: keep it
            clean_edits.append(neutralise_command(inv.command))
            plan.changes.append(
                f"{manager.name}: dropped `{' '.join(inv.command.argv)}` (would only empty the mounted cache)"
            )
    # flags
    flag_edits = []
    for inv in invs:
        if inv.role not in (INSTALL, UPDATE):
            continue
        for w in inv.option_words:
            v = w.value
            if v in manager.defeating_flags or v.split("=", 1)[0] in manager.defeating_flags:
                flag_edits.append(delete_word(text, w))
                plan.changes.append(f"{manager.name}: dropped `{v}` (only disables the cache)")
            elif v in manager.replaced_flags:
                flag_edits.append((w.start, w.end, manager.replaced_flags[v]))
                plan.changes.append(
                    f"{manager.name}: `{v}` -> `{manager.replaced_flags[v]}` (same packages, cache kept)"
                )
        if manager.keep_flags and inv.verb_word is not None and inv.role in manager.keep_flag_roles:
            flags = " ".join(manager.keep_flags)
            flag_edits.append((inv.verb_word.end, inv.verb_word.end, " " + flags))
            plan.changes.append(f"{manager.name}: `{flags}` for this run only (keeps downloaded packages)")
        if manager.name == "apt" and inv.command.name == "apt" and inv.role == INSTALL:
            opt = managers.BY_NAME["apt"].keep_option  # type: ignore[attr-defined]
            prog = inv.command.args[0]
            flag_edits.append((prog.end, prog.end, " " + opt))
            plan.changes.append("apt: `" + opt + "` (the apt binary deletes downloaded packages otherwise)")
        for _cache, target, relocate in keep:
            if relocate:
                flag_edits.append(_set_env_for(inv.command, relocate, target))
    # apt: park the docker-clean hook for the run
    if manager.name == "apt" and "/var/cache/apt" in kept_targets:
        if "trap" in script.notes or any(c.words and c.words[0].value == "exec" for c in script.commands):
            plan.notes.append(
                "apt: the script uses trap/exec, docker-clean hook left in place (debs not kept)"
            )
        elif "docker-clean" in text:
            plan.notes.append(
                "apt: the script touches docker-clean itself, hook left in place (debs not kept)"
            )
        else:
            at = 0
            if text.startswith("#!"):
                at = text.find("\n") + 1 if "\n" in text else len(text)
            at += len(text[at:]) - len(text[at:].lstrip(" \t"))  # after the first line's indentation
            flag_edits.append((at, at, APT_PARK_PREFIX))
            plan.mask.append(APT_CLEAN_HOOK)
            plan.changes.append(
                "apt: docker-clean hook parked for this run only (it deletes downloaded debs)"
            )
    plan.edits.extend(env_edits + rm_edits + clean_edits + flag_edits)
    first_mount = len(plan.mounts)
    for cache, target, _relocate in keep:
        uid = owner.uid if manager.family != "system" and owner.uid else None
        gid = owner.gid if manager.family != "system" and owner.gid else None
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
                user=owner.name if manager.family != "system" else None,
                partition=cache.partition,
                host=cache.host,
            )
        )
        owned = f", owned by `{spec}` (the user the command switches to)" if spec is not None else ""
        plan.changes.append(
            f"{manager.name}: cache {target} mounted ({cache.what or manager.description}){owned}"
        )
    for inv in installs:
        if inv.command.conditional:
            plan.notes.append(
                f"{manager.name}: `{' '.join(inv.command.argv[:3])}` runs {inv.command.conditional}: "
                "cached all the same (the mount does not depend on whether it runs)"
            )
    if manager.family == "python":
        for inv in installs:
            plan.wheelhouse.append(_wheelhouse(inv))
    return lists


def _users(specs) -> str:
    return ", ".join(sorted(s if s is not None else "the RUN's user" for s in specs))


def _set_env_for(cmd: shell.Command, name: str, value: str) -> tuple[int, int, str]:
    """The edit that sets ``name=value`` for ``cmd``'s program: a prefix assignment, or ``env NAME=value``
    right before the program when a wrapper (``sudo`` resets the environment, ``gosu``, ``xargs``...) stands
    between the start of the command and the program."""
    if cmd.argv_index == 0:
        return (cmd.start, cmd.start, f"{name}={value} ")
    program = cmd.args[0]
    return (program.start, program.start, f"env {name}={value} ")


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


def _apt_lists_blocker(invs: list[Invocation], script: shell.Script, ctx: Context, target: str) -> str | None:
    """Why /var/lib/apt/lists must not be mounted for this RUN (None: it may)."""
    installs = [i.command for i in invs if i.role == INSTALL]
    updates = [i.command for i in invs if i.role == UPDATE]
    # every install must follow an update that ran whenever the install's region ran (not one in a branch)
    if not installs or not all(any(u.start < c.start and u.encloses(c) for u in updates) for c in installs):
        return "no `apt-get update` before the install in this RUN (it uses the lists in the image)"
    if ctx.apt_lists_in_image:
        return "an earlier RUN left apt lists in the image"
    last = max(c.start for c in installs + updates)

    def removes_after_every_update(cmd: shell.Command) -> bool:
        return (
            cmd.start > last
            and not cmd.conditional == "inside $(...)"
            and all(cmd.encloses(u) for u in updates)
        )

    if any(i.verb in ("dist-clean",) and removes_after_every_update(i.command) for i in invs):
        return None
    for cmd, paths in rm_paths(script, ctx.env, None):
        if removes_after_every_update(cmd) and any(p and relation(p, target) == "inside" for _, p in paths):
            return None
    return "the RUN keeps the lists in the image (no `rm -rf /var/lib/apt/lists/*` after the install)"


def _apk_blocker(invs: list[Invocation], script: shell.Script, ctx: Context) -> str | None:
    adds = [i for i in invs if i.role in (INSTALL, UPDATE)]
    if all("--no-cache" in i.options for i in adds):
        return None
    return "an apk command without --no-cache keeps its index in the image"


def _wheelhouse(inv: Invocation) -> A.Wheelhouse:
    values = list(inv.options)

    def opt(*names):
        out = []
        for i, v in enumerate(values):
            for n in names:
                if v == n and i + 1 < len(values):
                    out.append(values[i + 1])
                elif v.startswith(n + "=") and n.startswith("--"):
                    out.append(v.split("=", 1)[1])
        return out

    index = opt("-i", "--index-url")
    return A.Wheelhouse(
        packages=tuple(inv.packages),
        requirements=tuple(inv.extra.get("requirements", ())),
        constraints=tuple(inv.extra.get("constraints", ())),
        index_url=index[-1] if index else None,
        extra_index_urls=tuple(opt("--extra-index-url")),
        find_links=tuple(opt("-f", "--find-links")),
        no_index="--no-index" in values,
        pre="--pre" in values,
    )


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
