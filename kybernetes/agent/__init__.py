"""The worker agent's own machinery beside its CLI (kybernetes.cli.agent): which apiservers it talks through."""
