"""Our own TFX components, one folder each."""
