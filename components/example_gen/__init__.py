"""ExampleGens whose failures on unreadable input files name the file and the reason."""

from components.example_gen.component import CheckedCsvExampleGen, CheckedImportExampleGen
from components.example_gen.executor import InputFileError

__all__ = ["CheckedCsvExampleGen", "CheckedImportExampleGen", "InputFileError"]
