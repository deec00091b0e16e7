from tests.cds.conftest import client, service_settings

__all__ = ["client", "service_settings"]
