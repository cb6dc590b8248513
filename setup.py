"""For Beam's --setup_file (Dataflow installs the package on every worker from it); the metadata is in
pyproject.toml."""

from setuptools import setup

setup()
