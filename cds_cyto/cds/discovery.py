"""Service definitions, one JSON file per service in hooks/, read at start-up; discovery is generated from them
in a deterministic order (by id)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["DiscoveryError", "ServiceDefinition", "discovery_document", "load_services"]

_PUBLISHED = ("hook", "title", "description", "id", "prefetch", "usageRequirements")


class DiscoveryError(ValueError):
    """A hooks/*.json file is missing or malformed."""


@dataclass(frozen=True, slots=True)
class ServiceDefinition:
    id: str
    hook: str
    hook_version: str
    title: str | None
    description: str
    prefetch: dict[str, str]
    optional_prefetch: frozenset[str]
    usage_requirements: str | None

    def discovery_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"hook": self.hook}
        if self.title:
            entry["title"] = self.title
        entry["description"] = self.description
        entry["id"] = self.id
        if self.prefetch:
            entry["prefetch"] = dict(self.prefetch)
        if self.usage_requirements:
            entry["usageRequirements"] = self.usage_requirements
        return entry


def load_services(hooks_dir: Path, observation_codes: list[str]) -> dict[str, ServiceDefinition]:
    files = sorted(hooks_dir.glob("*.json"))
    if not files:
        raise DiscoveryError(f"no service definitions in {hooks_dir}")
    services: dict[str, ServiceDefinition] = {}
    codes = ",".join(observation_codes)
    for path in files:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            prefetch = {k: str(v).replace("${OBSERVATION_CODES}", codes) for k, v in raw.get("prefetch", {}).items()}
            service = ServiceDefinition(
                id=str(raw["id"]),
                hook=str(raw["hook"]),
                hook_version=str(raw.get("hookVersion", "1.0")),
                title=raw.get("title"),
                description=str(raw["description"]),
                prefetch=prefetch,
                optional_prefetch=frozenset(raw.get("optionalPrefetch", [])),
                usage_requirements=raw.get("usageRequirements"),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise DiscoveryError(f"{path.name}: {exc!r}") from exc
        if service.id in services:
            raise DiscoveryError(f"{path.name}: duplicate service id {service.id}")
        services[service.id] = service
    return dict(sorted(services.items()))


def discovery_document(services: dict[str, ServiceDefinition]) -> dict[str, Any]:
    return {"services": [s.discovery_entry() for s in services.values()]}
