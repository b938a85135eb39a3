"""A recipe folder is a template: copy it under a new name and it runs with no edit anywhere else."""
import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


RECIPES = sorted(path.name for path in (ROOT / "recipes").iterdir() if (path / "__main__.py").is_file())


def copied_project(tmp_path, recipe, name="mytask"):
    """A copy of the project's code (shared/, recipes/, pyproject.toml) with recipes/RECIPE copied to recipes/NAME,
    and the environment to run it: the copy's folder on PYTHONPATH, TensorFlow's log level as a user has it."""
    tree = tmp_path / "project"
    skip = shutil.ignore_patterns("__pycache__", ".pytest_cache")
    shutil.copytree(ROOT / "shared", tree / "shared", ignore=skip)
    shutil.copytree(ROOT / "recipes", tree / "recipes", ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")  # pytest's settings: markers, the plugin
    shutil.copytree(tree / "recipes" / recipe, tree / "recipes" / name)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user runs it: the recipe quiets TensorFlow itself
    return tree, env


@pytest.mark.slow
def test_a_copy_of_classify_trains_on_five_classes_predicts_their_names_and_passes_its_own_tests(tmp_path):
    from shared.testing import synthetic_texts, write_csv

    tree, env = copied_project(tmp_path, "classify")
    assert not list((tree / "recipes" / "mytask").rglob("*bench*"))  # benchmarks live above the recipes
    speakers = ["GLOUCESTER", "DUKE VINCENTIO", "MENENIUS", "ROMEO", "PETRUCHIO"]
    data = write_csv(tmp_path / "speeches.csv", ["text", "speaker"], synthetic_texts(300, speakers))

    def run(*args, module="recipes.mytask"):
        return subprocess.run([sys.executable, "-m", module, *args], cwd=tree, env=env,
                              capture_output=True, text=True, timeout=600, check=False)

    trained = run("--smoke", "--data", str(data), "--text-column", "text", "--label-column", "speaker")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "E0000" not in trained.stderr and "I0000" not in trained.stderr  # no TensorFlow C++ log lines
    out = tree / "runs" / "mytask"  # the copy's own default output folder
    assert '"recipe": "mytask"' in (out / "config.json").read_text()
    predicted = run("predict", "--model", "runs/mytask", "now is the winter of our discontent")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    name, probability, known, _ = predicted.stdout.strip().split("\t")  # known: words it knows / words read
    assert name in speakers and 0.2 <= float(probability) <= 1  # the most likely of five: at least 1/5
    # It is its own recipe: the original refuses its model.
    original = run("predict", "--model", "runs/mytask", "x", module="recipes.classify")
    assert original.returncode == 2 and "model of recipe 'mytask', not 'classify'" in original.stderr
    tested = run("-q", "-p", "no:cacheprovider", "recipes/mytask", module="pytest")
    assert tested.returncode == 0 and " passed" in tested.stdout, tested.stdout[-3000:]


@pytest.mark.parametrize("recipe", RECIPES)
def test_a_copied_recipe_collects_its_own_tests_under_its_new_name(tmp_path, recipe):
    # The whole suite of each copy runs by hand (the closing notes say when); here, cheaply: the copy's
    # tests exist, and import the copy (relatively), not the original.
    tree, env = copied_project(tmp_path, recipe)
    listed = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                             "recipes/mytask"], cwd=tree, env=env, capture_output=True, text=True, timeout=300,
                            check=False)
    tests = [line for line in listed.stdout.splitlines() if "::" in line]
    assert listed.returncode == 0 and tests, listed.stdout[-3000:] + listed.stderr[-2000:]
    assert all(line.startswith("recipes/mytask/") for line in tests), tests[:5]
    probe = ("import sys, importlib, pathlib\n"
             "for package in sys.argv[1:]:\n"
             "    for path in sorted(pathlib.Path(package.replace('.', '/')).rglob('test*.py')):\n"
             "        module = importlib.import_module('.'.join(path.with_suffix('').parts))\n"
             "        print(sorted(name for name in sys.modules if name.startswith('recipes.') and\n"
             "                     not name.startswith(('recipes.mytask', 'recipes.' + sys.argv[2]))))\n")
    loaded = subprocess.run([sys.executable, "-c", probe, "recipes.mytask", recipe], cwd=tree, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    original = f"recipes.{recipe}."
    imports = {line for line in loaded.stdout.splitlines()}
    assert not any(original in line for line in imports if line != "[]"), imports


# The recipes whose saved models hold their own Keras objects, and a small model of each: (module, builder).
CUSTOM_MODELS = {
    "forecast": ("config", "model", "lambda config, model: model.build_forecaster(config.Config(units=4), 2)"),
    "sentiment": ("config", "model", "lambda config, model: model.build_classifier(config.Config(units=4, "
                                     "ngram_buckets=64), 50)"),
}


def test_copies_register_their_keras_objects_under_their_own_names(tmp_path):
    # Import the original recipes and a copy of each in one process: every registered name leads to
    # the class of the module that registered it (a literal package name would make the copy's class
    # answer for the original's saved models); then save and reload a model of each, original and copy.
    tree, env = copied_project(tmp_path, RECIPES[0], name=f"copy_of_{RECIPES[0]}")
    for recipe in RECIPES[1:]:
        shutil.copytree(tree / "recipes" / recipe, tree / "recipes" / f"copy_of_{recipe}")
    probe = ("import importlib, pathlib, sys\n"
             "import keras\n"
             "for path in sorted(pathlib.Path('recipes').glob('*/*.py')):\n"
             "    if path.name != '__main__.py':\n"
             "        importlib.import_module('.'.join(path.with_suffix('').parts))\n"
             "wrong = {key: obj.__module__ for key, obj in keras.saving.get_custom_objects().items()\n"
             "         if '>' in key and key.split('>')[0] != obj.__module__}\n"
             "print('registered', len(keras.saving.get_custom_objects()), 'wrong', wrong)\n"
             f"for recipe, (config, model, build) in {CUSTOM_MODELS!r}.items():\n"
             "    for package in (f'recipes.{recipe}', f'recipes.copy_of_{recipe}'):\n"
             "        parts = [importlib.import_module(f'{package}.{name}') for name in (config, model)]\n"
             "        path = f'{sys.argv[1]}/{package}.keras'\n"
             "        eval(build)(*parts).save(path)\n"
             "        walk = lambda m: [x for layer in m.layers for x in [layer, *walk(layer)]] if hasattr(m, 'layers') else []\n"
             "        own = {type(layer).__module__ for layer in walk(keras.saving.load_model(path))\n"
             "               if not type(layer).__module__.startswith('keras')}\n"
             "        print(package, 'reloaded with', sorted(own))\n")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[0].endswith("wrong {}"), done.stdout[-2000:]
    reloaded = dict(line.split(" reloaded with ") for line in lines[1:])
    assert len(reloaded) == 2 * len(CUSTOM_MODELS)
    for package, modules in reloaded.items():  # each model comes back with its own recipe's classes
        assert modules != "[]" and all(name.startswith(package + ".") for name in eval(modules)), (package, modules)


def relative_imports(recipe_dir):
    """{module: set of modules of the same recipe it imports}, anywhere in the file (functions too)."""
    modules = {path.stem for path in recipe_dir.glob("*.py")}
    graph = {}
    for path in recipe_dir.glob("*.py"):
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:  # from .x import y
                    found.add(node.module.split(".")[0])
                else:  # from . import x, y
                    found |= {alias.name for alias in node.names}
        graph[path.stem] = found & modules - {path.stem}
    return graph


def cycle(graph):
    """One import circle of `graph` as a list of modules, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[node] = "done"
        return None

    return next((found for node in sorted(graph) if node not in state and (found := visit(node, [node]))), None)


def test_no_recipe_has_an_import_circle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # the check can fail
    assert cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    circles = {recipe: found for recipe in RECIPES if (found := cycle(relative_imports(ROOT / "recipes" / recipe)))}
    assert not circles, f"import circles (put what both sides need in a module of its own): {circles}"


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


@pytest.mark.parametrize("recipe", RECIPES)
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
    import importlib

    commands = [command.name for command in importlib.import_module(f"recipes.{recipe}.__main__").COMMANDS[1:]]
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
                owner = node.value.id if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) else None
                # os._exit is the standard library's documented exit without clean-up (shared/entry.py), not a private name.
                # sacrebleu's per-sentence statistics (recipes/translate/scoring.py, paired_bootstrap) are not Keras:
                # sacrebleu's own paired tests are built on these two methods (sacrebleu/significance.py; pinned < 3).
                sacrebleu = owner == "scorer" and node.attr in ("_extract_corpus_statistics", "_compute_score_from_stats")
                if private and owner not in ("self", "cls") and not (owner == "os" and node.attr == "_exit") \
                        and not sacrebleu:
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
