"""The web app that composes the doors' routers (`create_app`)."""

from cds_cyto.app.factory import create_app

__all__ = ["create_app"]
