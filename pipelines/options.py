"""Beam's options on our command lines: the local runner by default, and typos refused, not dropped."""

from __future__ import annotations

import importlib

from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions


class UnknownOptionsError(ValueError):
    """Options that neither the command nor Beam (for the runner named) knows."""

    def __init__(self, options: list[str]):
        self.options = options
        super().__init__(f"no such option: {', '.join(options)}")


def with_local_runner(args: list[str]) -> list[str]:
    """Beam's options, with the FnApiRunner unless one is named: the DirectRunner would first download Prism."""
    return args if any(arg.startswith("--runner") for arg in args) else [*args, "--runner=FnApiRunner"]


def check_pipeline_args(args: list[str]) -> None:
    """Raises UnknownOptionsError for options that the runner named, or Beam's core, does not define.

    Beam would only warn about such an option (`--host-dealy 5`) and drop it. A runner's options are
    defined in its module (DaskOptions beside DaskRunner), so that module is imported first; a runner
    whose module does not import here is left to say for itself what it accepts.
    """
    runner = PipelineOptions(args).view_as(StandardOptions).runner
    if runner:
        try:
            importlib.import_module(_runner_module(runner))
        except ImportError:
            return
    known = PipelineOptions([]).get_all_options()
    given = PipelineOptions(args).get_all_options(retain_unknown_options=True)
    unknown_names = given.keys() - known.keys()
    unknown = [arg for arg in args if arg.lstrip("-").split("=")[0].replace("-", "_") in unknown_names]
    if unknown:
        raise UnknownOptionsError(unknown)


def _runner_module(runner: str) -> str:
    """The module of a runner named as Beam allows: DataflowRunner, dataflow, or a dotted class path."""
    known = {path.rsplit(".", 1)[1].lower(): path for path in StandardOptions.ALL_KNOWN_RUNNERS}
    path = known.get(runner.lower()) or known.get(runner.lower() + "runner") or runner
    return path.rpartition(".")[0] or path
