"""Data files shipped with the package: the model-variant catalog and the demo seed."""
