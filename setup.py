from setuptools import setup

# Thin shim: metadata lives in pyproject.toml.
setup()
