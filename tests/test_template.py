"""A recipe folder is a template: copy it under a new name and it runs with no edit anywhere else."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_copied_recipe_trains_and_predicts_as_its_own_recipe(tmp_path, reviews_csv):
    tree = tmp_path / "project"
    shutil.copytree(ROOT / "shared", tree / "shared", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "recipes", tree / "recipes", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(tree / "recipes" / "sentiment", tree / "recipes" / "mytask")
    assert not list((tree / "recipes" / "mytask").rglob("*bench*"))  # benchmarks live above the recipes
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it: the recipe quiets TensorFlow itself

    def run(*args):
        return subprocess.run([sys.executable, "-m", "recipes.mytask", *args], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=300, check=False)

    trained = run("--smoke", "--data", str(reviews_csv), "--units", "4", "--layers", "1", "--epochs", "1")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "E0000" not in trained.stderr and "I0000" not in trained.stderr  # no TensorFlow C++ log lines
    out = tree / "runs" / "mytask"  # the copy's own default output folder
    assert '"recipe": "mytask"' in (out / "config.json").read_text()
    predicted = run("predict", "--model", str(out), "a great film")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert predicted.stdout.split()[1] in ("positive", "negative")
    # It is its own recipe: the original refuses its model.
    original = subprocess.run([sys.executable, "-m", "recipes.sentiment", "predict", "--model", str(out), "x"],
                              cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert original.returncode == 2 and "model of recipe 'mytask', not 'sentiment'" in original.stderr


def imported_packages(folder):
    """{file: top-level packages it imports} for every Python file under `folder`."""
    found = {}
    for path in (ROOT / folder).rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        found[path.relative_to(ROOT)] = names
    return found


def test_imports_go_down_only_benchmarks_then_recipes_then_shared():
    # importlib too: the old benchmark driver in shared/ imported recipes.*.bench by name. One
    # exception: shared/entry.py's dispatch imports a command's module from the package its
    # caller (the recipe's __main__) passes in, so that --help answers before Keras loads.
    allowed = {Path("shared/entry.py"): {"importlib"}}
    for folder, above in (("shared", {"recipes", "benchmarks", "importlib"}), ("recipes", {"benchmarks", "importlib"})):
        upward = {str(path): sorted(names & above - allowed.get(path, set()))
                  for path, names in imported_packages(folder).items() if names & above - allowed.get(path, set())}
        assert not upward, f"{folder}/ imports from a layer above it: {upward}"
    tree = ast.parse((ROOT / "shared" / "entry.py").read_text(encoding="utf-8"))
    docstrings = {id(body[0].value) for node in ast.walk(tree) if isinstance(body := getattr(node, "body", None), list)
                  and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)}
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and id(node) not in docstrings]
    assert not [text for text in strings if "recipes" in text]  # it names no recipe: only what the caller passes


RECIPE_COMMANDS = {"sentiment": ["validate", "predict"], "forecast": ["predict"], "textgen": ["home", "generate", "speed"],
                   "translate": ["translate"], "gradients": []}


@pytest.mark.parametrize("recipe", sorted(RECIPE_COMMANDS))
def test_help_and_option_errors_come_before_keras_loads(recipe):
    # Parsed first, so --help and a mistyped option answer at once (TensorFlow takes seconds to load).
    probe = (
        "import sys\n"
        f"from recipes.{recipe}.__main__ import main\n"
        "for argv in sys.argv[1:]:\n"
        "    try:\n"
        "        main(argv.split())\n"
        "    except SystemExit as done:\n"
        "        print('<exit', done.code, flush=True)\n"
        "print('loaded', sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'tensorflow', 'pandas'}))\n"
    )
    commands = RECIPE_COMMANDS[recipe]
    argvs = ["--help", "--epochs x", *(f"{c} --help" for c in commands), *(f"{c} --no-such-option" for c in commands)]
    done = subprocess.run([sys.executable, "-c", probe, *argvs], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.stdout.strip().splitlines()[-1] == "loaded []", done.stdout[-500:] + done.stderr[-500:]
    assert done.stdout.count("<exit 0") == 1 + len(commands) and done.stdout.count("<exit 2") == 1 + len(commands)
    listing = done.stdout.split("\ncommands (")[1]  # the main --help ends with every command
    assert all(f"\n  {name} " in listing for name in ["train", *commands])


def test_tensorflow_starts_without_its_cpp_log_lines():
    probe = ("from shared.entry import quiet_start\nquiet_start()\nimport keras\nimport tensorflow as tf\n"
             "print(int(tf.constant(1) + 1))\n")
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "2", done.stderr[-1000:]
    assert done.stderr == "", done.stderr[-1000:]


def test_private_keras_names_only_in_the_quarantined_module():
    # Another object's underscore attribute (self's own are the class's business) or keras.src:
    # allowed in shared/keras_internals.py alone, where each use says why (Keras is pinned to 3.15).
    found = []
    for folder in ("shared", "recipes"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == "keras_internals.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                private = isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                if private and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                    found += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.startswith("keras.src")]
    assert not found, found


def test_each_recipe_imports_at_most_five_names_from_shared():
    for train in sorted((ROOT / "recipes").glob("*/train.py")):
        names = [alias.name for node in ast.walk(ast.parse(train.read_text(encoding="utf-8")))
                 if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "shared"
                 for alias in node.names]
        assert len(names) <= 5, f"{train.relative_to(ROOT)} imports {names} from shared"
