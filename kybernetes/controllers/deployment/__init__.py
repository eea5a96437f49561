"""The Deployment controller: rolling and recreate rollouts over ReplicaSets, revisions, progress conditions."""

from kybernetes.controllers.deployment.controller import DeploymentController

CONTROLLER = DeploymentController

__all__ = ["CONTROLLER", "DeploymentController"]
