"""ExampleGens reading a window of spans, whose failures on unreadable input files name the file."""

from components.example_gen.component import WindowedCsvExampleGen, WindowedImportExampleGen
from components.example_gen.executor import InputFileError

__all__ = ["InputFileError", "WindowedCsvExampleGen", "WindowedImportExampleGen"]
