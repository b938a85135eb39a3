"""What only this recipe's tests need beyond shared.testing (loaded for every test as a pytest plugin).

The fixtures of these tests (the synthetic pairs file, one shared --smoke run) live in test_translate.py,
the one module that uses them. Here: TensorFlow's C++ log quieted before any test imports it, as
tests/conftest.py does for the cross-recipe tests.
"""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
