"""A rehearsal of .github/workflows/ci.yml: its jobs and steps run as written, one
runner-like container per job (README, "Rehearsing the workflow")."""
