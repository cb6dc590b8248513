"""For Beam's --setup_file (Dataflow installs the package on every worker from it); the metadata is in
pyproject.toml. The C merge loop is optional: without a compiler, bpe falls back to pure Python."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("bpe._merge", ["bpe/_merge.c"], optional=True, extra_compile_args=["-O3"])])
