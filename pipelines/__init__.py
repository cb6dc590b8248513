"""The Beam jobs that compose the libraries (webtext/, bpe/).

Importing this package imports Apache Beam first, without the warnings Beam logs while it is imported:
`apache_beam.io.gcp` calls `logging.warning` when the GCP client libraries are missing ("apitools not
found..."), which every user without Beam's gcp extra would otherwise see on every run, and which, by
configuring the root logger as a side effect, would also print every later warning of any library.
"""

import logging


def _import_beam_quietly() -> None:
    root = logging.getLogger()
    silencer = logging.NullHandler()  # a handler on the root keeps logging.warning from calling basicConfig
    root.addHandler(silencer)
    disabled = root.manager.disable
    logging.disable(logging.WARNING)
    try:
        import apache_beam  # noqa: F401
    finally:
        logging.disable(disabled)
        root.removeHandler(silencer)


_import_beam_quietly()
