"""shell.py: simple commands with positions, conditions, removability; opaque when unsure."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shlax_front import runbody, shell


def commands(text):
    return [(c.argv, c.conditional) for c in shell.parse(text).commands]


def test_lists_env_prefixes_and_positions():
    text = "set -eux; DEBIAN_FRONTEND=noninteractive apt-get install -y a && rm -rf /x"
    script = shell.parse(text)
    assert [c.argv for c in script.commands] == [
        ["set", "-eux"],
        ["apt-get", "install", "-y", "a"],
        ["rm", "-rf", "/x"],
    ]
    apt = script.commands[1]
    assert apt.env_value("DEBIAN_FRONTEND") == "noninteractive"
    assert text[apt.args[0].start : apt.args[0].end] == "apt-get"
    assert script.notes == ("set -eux",)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("if a; then apt-get install x; fi", "inside if"),
        ("for p in a; do apt-get install $p; done", "inside for"),
        ("f() { apt-get install x; }", "inside a function"),
        ("a || apt-get install x", "after ||"),
        ("(apt-get install x)", "inside a subshell"),
        ("echo $(apt-get install x)", "inside $(...)"),
        ("apt-get install x &", "run in the background"),
    ],
)
def test_conditional_contexts(text, reason):
    found = [c for c in shell.parse(text).commands if c.argv[:1] == ["apt-get"]]
    assert found and found[0].conditional == reason


def test_case_blocks_without_installs_are_skipped_over():
    script = shell.parse('case "$(uname -m)" in x86_64) a=1 ;; *) a=2 ;; esac; apt-get install -y y')
    assert script.opaque is None
    assert script.commands[-1].argv == ["apt-get", "install", "-y", "y"]
    assert script.commands[-1].conditional is None


def test_substitution_with_and_list_is_parsed_separately():
    text = 'x="$(test -n "$a" && echo b)" && apt-get install -y c'
    script = shell.parse(text)
    assert script.opaque is None
    assert [(c.argv[0], c.conditional) for c in script.commands if c.argv] == [
        ("test", "inside $(...)"),
        ("echo", "inside $(...)"),
        ("apt-get", None),
    ]
    echo = [c for c in script.commands if c.argv[:1] == ["echo"]][0]
    assert text[echo.start : echo.end] == "echo b"


def test_or_does_not_leak_past_semicolon():
    assert commands("a || true; apt-get install x")[-1] == (["apt-get", "install", "x"], None)


def test_wrappers_and_env_command():
    cmd = shell.parse("sudo -E env A=1 B=2 nice -n 5 pip install x").commands[0]
    assert cmd.argv == ["pip", "install", "x"]
    assert cmd.env_value("A") == "1" and cmd.env_value("B") == "2"


def test_sh_c_string_is_parsed_with_mapped_positions():
    text = "sh -c 'apt-get update && apt-get install -y curl'"
    script = shell.parse(text)
    inner = [c for c in script.commands if c.depth == 1]
    assert [c.argv[:2] for c in inner] == [["apt-get", "update"], ["apt-get", "install"]]
    assert text[inner[1].start : inner[1].end] == "apt-get install -y curl"


def test_sh_c_with_escapes_has_no_positions():
    script = shell.parse('bash -c "apt-get install -y \\"x\\""')
    inner = [c for c in script.commands if c.depth == 1]
    assert inner and inner[0].start == -1


@pytest.mark.parametrize(
    "text",
    [
        "[[ -f x ]] && apt-get install y",
        "case a in b) apt-get install x;; esac",
        "time apt-get install x",
        "echo 'unterminated",
        "n=$(( 1 + 2 )); apt-get install x",
    ],
)
def test_unsupported_shell_is_opaque_with_reason(text):
    script = shell.parse(text)
    assert script.opaque and script.commands == ()


@pytest.mark.parametrize(
    "text, kept",
    [
        ("a && rm x && b", "a && b"),
        ("a && rm x", "a"),
        ("rm x && a", "a"),
        ("a; rm x && b", "a; b"),
        ("a && rm x; b", "a; b"),
    ],
)
def test_removal_spans_keep_the_chain_meaning(text, kept):
    rm = [c for c in shell.parse(text).commands if c.argv[0] == "rm"][0]
    assert rm.removable
    assert text[: rm.removal[0]] + text[rm.removal[1] :] == kept


def test_not_removable_in_or_chain_or_pipeline():
    for text in ("a && rm x || true", "rm x | cat"):
        rm = [c for c in shell.parse(text).commands if c.argv[0] == "rm"][0]
        assert not rm.removable


def test_expand_words_known_unknown():
    words = shell.parse("x $A ${B} c").commands[0].args[1:]
    assert shell.expand_words(words, {"A": "1 2", "B": "3"}) == ["1", "2", "3", "c"]
    assert shell.expand_words(words, {"A": "1"}) is None


def test_heredoc_script_only_for_plain_marker():
    from shlax_front.syntax import Heredoc

    body = [Heredoc("EOF", "apt-get install x\n")]
    assert runbody.script_body("<<EOF", body) == "apt-get install x\n"
    assert runbody.script_body("<<-'EOF'", body) == "apt-get install x\n"
    assert runbody.script_body("python3 <<EOF", body) is None
    assert runbody.script_body("<<EOF", [Heredoc("EOF", "#!/usr/bin/python3\nprint(1)\n")]) is None
    assert runbody.script_body("<<EOF", [Heredoc("EOF", "#!/bin/bash\napt-get install x\n")]) is None


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab $;&|()'\"\\{}<>#\n=-*`", max_size=40))
def test_never_raises(text):
    script = shell.parse(text)
    for c in script.commands:
        for w in c.words:
            assert w.start == -1 or 0 <= w.start <= w.end <= len(text)


def test_heredoc_fed_to_a_shell_is_a_script():
    from shlax_front.syntax import Heredoc

    body = [Heredoc("EOT", "apt-get install -y x\n")]
    for value in ("<<EOT bash", "bash <<EOT", "sh -e <<'EOT'", "/bin/sh <<EOT"):
        assert runbody.stdin_shell_script(value, body) == "apt-get install -y x\n", value
    for value in ("python3 <<EOT", "<<EOT cat > /x", "bash <<OTHER"):
        assert runbody.stdin_shell_script(value, body) is None, value
    assert runbody.full_command("<<EOT bash", body, "y\n") == "<<EOT bash\ny\nEOT"


@pytest.mark.parametrize(
    "text, program, run_as",
    [
        ("su node -c 'npm install -g x'", "npm", "node"),
        ('su - app -c "pip install x"', "pip", "app"),
        ("su -c 'pip install y' node", "pip", "node"),
        ("su -c 'apt-get install -y z'", "apt-get", "root"),
        ("su -g staff node -c 'npm ci'", "npm", "node:staff"),
        ("runuser -l app -c 'pip install q'", "pip", "app"),
        ("runuser -u app -- pip install z", "pip", "app"),
        ("gosu node npm ci", "npm", "node"),
        ("su-exec 1000:1000 npm ci", "npm", "1000:1000"),
        ("gosu node sh -c 'npm ci'", "npm", "node"),
        ("sudo -u app pip install w", "pip", "app"),
        ("sudo -u '#1000' pip install w", "pip", "1000"),
        ("sudo pip install v", "pip", "root"),
        ("gosu $APP_USER npm ci", "npm", "$APP_USER"),
        ("npm ci", "npm", None),
    ],
)
def test_commands_run_as_the_user_su_gosu_sudo_switch_to(text, program, run_as):
    found = [c for c in shell.parse(text).commands if c.name == program]
    assert len(found) == 1 and found[0].run_as == run_as
    cmd = found[0]
    assert text[cmd.args[0].start : cmd.args[0].end] == program  # positions map onto the source


def test_su_with_another_shell_or_a_computed_script_is_not_looked_into():
    assert {c.name for c in shell.parse("su -s /bin/zsh node -c 'npm ci'").commands} == {"su"}
    assert {c.name for c in shell.parse('su node -c "$CMD"').commands} == {"su"}


def test_regions_tell_which_commands_run_whenever_another_does():
    text = "apt-get update; if a; then apt-get install x && rm -f y; fi; b || apt-get install z"
    cmds = {c.argv[-1]: c for c in shell.parse(text).commands}
    update, x, y, z = cmds["update"], cmds["x"], cmds["y"], cmds["z"]
    assert update.encloses(x) and update.encloses(z)
    assert x.encloses(y) and y.encloses(x)  # same branch
    assert not x.encloses(update) and not x.encloses(z) and not z.encloses(x)


def test_case_branches_are_regions_of_their_own():
    text = 'case "$(uname -m)" in x86_64) cd /a && b=1 ;; arm*|aarch64) cd /b ;; esac; rm -rf /x'
    script = shell.parse(text)
    assert script.opaque is None
    found = {tuple(c.argv): c for c in script.commands}
    uname, a, b, rm = (
        found[("uname", "-m")],
        found[("cd", "/a")],
        found[("cd", "/b")],
        found[("rm", "-rf", "/x")],
    )
    assert uname.conditional == "inside $(...)"
    assert a.conditional == b.conditional == "inside case"
    assert not a.encloses(b) and not b.encloses(a) and rm.encloses(a)
    assert text[a.start : a.end] == "cd /a"
    # deleting the command after ``esac`` leaves the case statement whole
    assert rm.conditional is None and rm.removable
    assert text[: rm.removal[0]] + text[rm.removal[1] :] == text[: text.index("; rm")]


def test_case_running_an_install_stays_opaque_with_its_reason():
    script = shell.parse('case "$ARCH" in amd64) apt-get install -y x ;; esac')
    assert script.opaque == "a `case` statement runs package-manager or rm commands"


def test_nested_substitutions_are_each_walked_once_with_exact_positions():
    text = 'v="$(a "$(b c)" `d`)" && apt-get install -y "$(e <(f))"'
    script = shell.parse(text)
    assert script.opaque is None
    assignment, *commands = script.commands
    assert assignment.argv == [] and assignment.env[0].value == 'v=$(a "$(b c)" `d`)'
    assert [(c.argv[0], c.conditional, c.depth) for c in commands] == [
        ("a", "inside $(...)", 1),
        ("b", "inside $(...)", 2),
        ("d", "inside $(...)", 2),
        ("apt-get", None, 0),
        ("e", "inside $(...)", 1),
        ("f", "inside $(...)", 2),
    ]
    for c in commands:
        assert text[c.start : c.end].startswith(c.args[0].text)
        assert all(text[w.start : w.end] == w.text for w in c.words)
    assert [text[c.start : c.end] for c in commands if c.depth == 2] == ["b c", "d", "f"]


@pytest.mark.parametrize(
    "text, expected",
    [
        # bash binds ``|`` tighter than ``&&``/``||``: the install after the pipeline runs unconditionally
        ("curl -s u | gpg --dearmor | tee k && apt-get install -y x", (None, False)),
        ("a | b | c || apt-get install -y x", ("after ||", False)),
        ("a && apt-get install -y x > log | cat", (None, True)),
        ("! { a; b; } && apt-get install -y x", (None, False)),
    ],
)
def test_pipelines_and_chains_are_read_as_bash_reads_them(text, expected):
    script = shell.parse(text)
    apt = [c for c in script.commands if c.name == "apt-get"]
    assert len(apt) == 1 and (apt[0].conditional, apt[0].in_pipeline) == expected


def test_negated_group_keeps_its_bang_when_a_neighbour_is_removed():
    text = "rm -f /x; ! { a | grep b; }"
    rm = shell.parse(text).commands[0]
    assert text[: rm.removal[0]] + text[rm.removal[1] :] == "! { a | grep b; }"


def test_words_after_a_redirection_are_arguments():
    text = "xargs -r < /deps.txt apt-get install -y && echo >&2 done"
    xargs, echo = shell.parse(text).commands
    assert xargs.argv == ["apt-get", "install", "-y"] and xargs.more_args and xargs.redirects
    assert echo.argv == ["echo", "done"]


@pytest.mark.parametrize(
    "word, value",
    [
        ("'it'\\''s'", "it's"),
        ('"s/\\s*$//"', "s/\\s*$//"),  # inside double quotes a backslash before ``s`` stays
        ('"a\\"b\\$c"', 'a"b$c'),
        ("$'a\\tb'", "a\tb"),
        ("a\\ b", "a b"),
    ],
)
def test_word_values_follow_bash_quote_removal(word, value):
    assert shell.parse("printf " + word).commands[0].args[1].value == value


@pytest.mark.parametrize(
    "text",
    [
        "cat <<EOF /etc/x\nbody\nEOF",  # the grammar drops the word after the here-document marker
        "echo `a` `b`",  # read as one substitution
        "apt-get install -y x\r\n",  # a carriage return is a word character to bash
        "cat - 2>/dev/null",
        "time apt-get install -y x",
    ],
)
def test_text_the_grammar_misreads_is_opaque(text):
    script = shell.parse(text)
    assert script.opaque and script.commands == ()
