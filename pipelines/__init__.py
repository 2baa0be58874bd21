"""Pipeline definition, its typed config, one runner per orchestrator, and the everyday commands."""

import warnings

# Google's client libraries, which TFX and Beam import, warn at import that Python 3.10 is past its
# support; TFX 1.16 needs 3.10 (README, "Why Python 3.10 and TFX 1.16"). Nothing a user can act on.
# The same two are filtered for pytest in pyproject.toml.
warnings.filterwarnings("ignore", message="You are using a non-supported Python version", category=FutureWarning)
warnings.filterwarnings("ignore", message="Support for google-cloud-storage < 3.0.0", category=FutureWarning)
