"""ExampleGen: faster TFRecord import, a window of spans, and input files that cannot be read named.

`FastImportExecutor` is an executor swap for TFX's ImportExampleGen;
`WindowedExampleGen` is our component for a window of more than one span.
"""

from components.example_gen.component import WindowedExampleGen
from components.example_gen.executor import (
    FastImportExecutor,
    InputFileError,
    WindowedCsvExecutor,
    WindowedImportExecutor,
)

__all__ = [
    "FastImportExecutor",
    "InputFileError",
    "WindowedCsvExecutor",
    "WindowedExampleGen",
    "WindowedImportExecutor",
]
