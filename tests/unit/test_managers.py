"""Manager tables: what each manager recognises as install / update / clean-up / other, with packages."""

from __future__ import annotations

import pytest

from shlax_front import managers, shell
from shlax_front.managers import CLEAN, INSTALL, OTHER, UPDATE


def invocations(text, variables=None):
    out = []
    for cmd in shell.parse(text).commands:
        m = managers.find(cmd)
        if m:
            out.append(m.invocation(cmd, variables or {}))
    return out


def one(text, variables=None):
    (inv,) = invocations(text, variables)
    return inv


@pytest.mark.parametrize(
    "text, manager, role, packages",
    [
        (
            "apt-get install -y --no-install-recommends curl=7.88.1-10 git/bookworm-backports",
            "apt",
            INSTALL,
            ("curl=7.88.1-10", "git/bookworm-backports"),
        ),
        ("apt-get -qq -o Dpkg::Options::=--force-confnew install -y vim", "apt", INSTALL, ("vim",)),
        ("apt install -y ./x.deb", "apt", INSTALL, ("./x.deb",)),
        ("apt-get update -qq", "apt", UPDATE, ()),
        ("apt-get dist-upgrade -y", "apt", INSTALL, ()),
        ("apt-get clean", "apt", CLEAN, ()),
        ("apt-get source hello", "apt", OTHER, ()),
        ("apt-get remove -y x", "apt", OTHER, ()),
        ("apk add --no-cache --virtual .deps gcc 'musl-dev>1'", "apk", INSTALL, ("gcc", "musl-dev>1")),
        ("apk --update add curl", "apk", INSTALL, ("curl",)),
        ("apk del .deps", "apk", OTHER, ()),
        ("apk cache clean", "apk", CLEAN, ()),
        ("dnf install -y --setopt=tsflags=nodocs python3", "dnf", INSTALL, ("python3",)),
        ("dnf -y group install 'Development Tools'", "dnf", INSTALL, ("Development Tools",)),
        ("dnf5 install -y x", "dnf", INSTALL, ("x",)),
        ("yum -y install httpd && yum clean all", "yum", INSTALL, ("httpd",)),
        ("microdnf install -y tar", "microdnf", INSTALL, ("tar",)),
        ("tdnf install -y tar", "tdnf", INSTALL, ("tar",)),
        ("zypper --non-interactive in -y curl", "zypper", INSTALL, ("curl",)),
        ("zypper ref", "zypper", UPDATE, ()),
        ("pacman -Syu --noconfirm git", "pacman", INSTALL, ("git",)),
        ("pacman -Scc --noconfirm", "pacman", CLEAN, ()),
        ("pacman -Ss python", "pacman", OTHER, ()),
        ("pip install --no-cache-dir -r requirements.txt", "pip", INSTALL, ()),
        ("pip3.11 install 'flask>=3' gunicorn==21.2.0", "pip", INSTALL, ("flask>=3", "gunicorn==21.2.0")),
        ("python3 -m pip install -U pip", "pip", INSTALL, ("pip",)),
        ("/opt/venv/bin/pip install -e .", "pip", INSTALL, ()),
        ("pip download flask", "pip", OTHER, ()),
        ("pip install --upgrade", "pip", OTHER, ()),
        ("pip cache purge", "pip", CLEAN, ()),
        ("uv pip install --system ruff", "uv", INSTALL, ("ruff",)),
        ("uv sync --frozen --no-dev", "uv", INSTALL, ()),
        ("uv venv /venv", "uv", OTHER, ()),
        ("npm ci --omit=dev", "npm", INSTALL, ()),
        ("npm i -g pnpm@8", "npm", INSTALL, ("pnpm@8",)),
        ("npm install", "npm", INSTALL, ()),
        ("npm run build", "npm", OTHER, ()),
        ("npm cache clean --force", "npm", CLEAN, ()),
        ("yarn", "yarn", INSTALL, ()),
        ("yarn install --frozen-lockfile", "yarn", INSTALL, ()),
        ("yarn global add serve", "yarn", INSTALL, ("serve",)),
        ("yarn build", "yarn", OTHER, ()),
        ("yarn cache clean", "yarn", CLEAN, ()),
        ("pnpm install --frozen-lockfile", "pnpm", INSTALL, ()),
        ("pnpm store prune", "pnpm", CLEAN, ()),
    ],
)
def test_recognition(text, manager, role, packages):
    inv = invocations(text)[0]
    assert (inv.name, inv.role, inv.packages) == (manager, role, packages)


def test_pip_extra_fields():
    inv = one("pip install --user -r a.txt --requirement=b.txt -rc.txt -c cons.txt -e ./pkg")
    assert inv.extra["requirements"] == ("a.txt", "b.txt", "c.txt")
    assert inv.extra["constraints"] == ("cons.txt",)
    assert inv.extra["editable"] == ("./pkg",)
    assert inv.extra["user"] is True


def test_apk_virtual_and_variables():
    inv = one("apk add --virtual=.b $DEPS", {"DEPS": "gcc make"})
    assert inv.extra["virtual"] == ".b" and inv.packages == ("gcc", "make") and not inv.dynamic
    unknown = one("apt-get install -y $UNKNOWN")
    assert unknown.dynamic and unknown.packages == ("$UNKNOWN",)


def test_lookalikes_are_not_managers():
    assert invocations("echo apt-get install x; apt-cache policy; pipx install black; npx foo") == []


def test_registry_one_module_per_manager():
    assert {m.name for m in managers.MANAGERS} >= {
        "apt",
        "apk",
        "dnf",
        "yum",
        "microdnf",
        "tdnf",
        "zypper",
        "pacman",
        "pip",
        "uv",
        "npm",
        "yarn",
        "pnpm",
    }
    for m in managers.MANAGERS:
        assert m.caches, m.name


def test_root_pnpm_store_is_mounted_where_pnpm_looks_so_modules_yaml_names_it():
    """pnpm writes the store's path into node_modules/.modules.yaml (``storeDir``): a store relocated under
    /tmp left ``/tmp/.shlax-front-pnpm/v3`` there where bud's image says ``/root/.local/share/pnpm/store/v3``."""
    from shlax_front.managers.pnpm import Pnpm
    from shlax_front.passes import Owner

    (target,) = Pnpm.cache_targets(Owner(0, 0, None, "/root"), {}, [])
    assert (target.path, target.relocate) == ("/root/.local/share/pnpm/store", None)
    (other,) = Pnpm.cache_targets(Owner(1000, 1000, "node", "/home/node"), {}, [])
    assert other.relocate == "npm_config_store_dir"
