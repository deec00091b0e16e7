"""cds-cyto: decision support for cytopenia after CAR-T cell therapy."""

__version__ = "0.1.0"
