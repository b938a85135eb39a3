"""Every shell and Python snippet in the READMEs runs: fenced ```sh and ```python blocks, in order, each
README in a scratch copy of the project, training commands shortened with --smoke (as a user's first try).

A code excerpt (a fragment of a file, not a command) is fenced without a language and not run.
A snippet that cannot run here (the test suite itself, hour-long benchmarks, a GPU) is listed in NOT_RUN
with the reason; an entry that no README holds any more fails too, so the list stays true.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [ROOT / "README.md", ROOT / "shared" / "README.md", *sorted((ROOT / "recipes").glob("*/README.md"))]
NOT_RUN = {  # a snippet's command, as written: why this test does not run it
    "make test": "this test suite itself",
    "python -m pytest recipes/mytask": "a copy's own tests: tests/test_template.py runs them for classify "
                                       "and collects them for every recipe",
    # Two machines: tests/test_distribute.py runs two workers on 127.0.0.1 instead.
    "export TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", "
    "\"index\": 0}}'": "needs two machines (host1, host2)",
    "export TF_CONFIG='{\"cluster\": {\"worker\": [\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", "
    "\"index\": 1}}'": "needs two machines (host1, host2)",
    "python -m recipes.sentiment --strategy multiworker --out runs/sentiment": "needs the two machines above",
}
BLOCK = re.compile(r"^```(sh|python)\n(.*?)^```", re.S | re.M)
RECIPE_COMMAND = re.compile(r"python -m recipes\.(\w+)((?: (?!\||&&|;|>)\S+)*)")
MAKE_RECIPE = re.compile(r"^make (\w+)(?: ARGS=(\"[^\"]*\"|'[^']*'|\S+))?$")


def snippets(readme):
    """[(language, text)] of the fenced sh and python blocks; shell blocks split into commands."""
    found = []
    for language, text in BLOCK.findall(readme.read_text(encoding="utf-8")):
        if language == "python":
            found.append(("python", text))
            continue
        for line in text.replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()  # a trailing comment
            if command and not command.startswith("#"):
                found.append(("sh", command))
    return found


def as_run(command, recipe_commands):
    """The command as this test runs it: `make RECIPE` as the python -m call it makes, --smoke added
    to each recipe command that takes it (a training run)."""
    make = MAKE_RECIPE.match(command)
    if make and make.group(1) in recipe_commands:
        command = f"python -m recipes.{make.group(1)} {(make.group(2) or '').strip(chr(34) + chr(39))}".strip()

    def smoked(match):
        recipe, rest = match.group(1), match.group(2)
        words = rest.split()
        sub = words[0] if words and words[0] in recipe_commands.get(recipe, {}) else "train"
        takes_smoke = recipe_commands.get(recipe, {}).get(sub, False)
        return match.group(0) + (" --smoke" if takes_smoke and "--smoke" not in words else "")

    return RECIPE_COMMAND.sub(smoked, command)


def smoke_options():
    """{recipe: {command: whether its --help lists --smoke}}, from each command's help (no Keras loads)."""
    import importlib

    table = {}
    for main in sorted((ROOT / "recipes").glob("*/__main__.py")):
        recipe = main.parent.name
        commands = importlib.import_module(f"recipes.{recipe}.__main__").COMMANDS
        table[recipe] = {}
        for command in commands:
            argv = [] if command is commands[0] else [command.name]
            shown = subprocess.run([sys.executable, "-m", f"recipes.{recipe}", *argv, "--help"], cwd=ROOT,
                                   capture_output=True, text=True, timeout=60, check=False).stdout
            table[recipe][command.name] = "--smoke" in shown
    return table


@pytest.fixture(scope="module")
def recipe_commands():
    return smoke_options()


def test_the_not_run_list_names_only_snippets_that_exist():
    written = {command for readme in READMES for language, command in snippets(readme) if language == "sh"}
    assert not set(NOT_RUN) - written, set(NOT_RUN) - written


def test_a_make_line_becomes_its_recipe_command_with_smoke():
    table = {"classify": {"train": True, "predict": False}}
    assert as_run('make classify ARGS="--seed 1"', table) == "python -m recipes.classify --seed 1 --smoke"
    assert as_run("python -m recipes.classify predict --model runs/x 'a b' | head -1", table) == \
        "python -m recipes.classify predict --model runs/x 'a b' | head -1"
    assert as_run("python -m recipes.classify --seed 2 && ls", table) == "python -m recipes.classify --seed 2 --smoke && ls"


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("readme", READMES, ids=[str(path.relative_to(ROOT)) for path in READMES])
def test_every_snippet_of_the_readme_runs(readme, recipe_commands, real_data, tmp_path):
    tree = tmp_path / "project"  # a user's clone: the commands write runs/ and exports here
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache", "runs")
    for name in ("shared", "recipes"):
        shutil.copytree(ROOT / name, tree / name, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tree)
    bin_dir = tmp_path / "bin"  # `python` is this interpreter, as in an activated .venv
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # a link would lose the venv
    (bin_dir / "python").chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(tree),
           "RECIPES_DATA_DIR": str(real_data), "RECIPES_CACHE_DIR": str(tmp_path / "cache")}
    ran = []
    for number, (language, text) in enumerate(snippets(readme), 1):
        if language == "sh" and text in NOT_RUN:
            continue
        if language == "python":
            script = tmp_path / f"snippet_{number}.py"
            script.write_text(text, encoding="utf-8")
            command = f"python {script}"
        else:
            command = as_run(text, recipe_commands)
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=tree, env=env, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, f"{readme.relative_to(ROOT)}: `{text}` ran as `{command}`:\n{done.stderr[-3000:]}"
        ran.append(command)
    assert ran or readme.parent.name == "shared", f"{readme}: no snippet ran"
