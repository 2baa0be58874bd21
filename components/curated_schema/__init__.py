"""CuratedSchemaGen: imports the curated schema with a content-based cache key."""

from components.curated_schema.component import SCHEMA_SHA256_KEY, CuratedSchemaGen, file_sha256

__all__ = ["SCHEMA_SHA256_KEY", "CuratedSchemaGen", "file_sha256"]
