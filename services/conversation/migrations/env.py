from services.conversation.schema import metadata
from shared.migrations import run_migrations

run_migrations(metadata)
