"""Pydantic request / response models (they define the OpenAPI schema too)."""
