"""Pipeline definition, its typed config and one runner per orchestrator."""
