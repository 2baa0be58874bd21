"""Offline checks of the deployment files: image, manifests, skaffold, compiled Kubeflow pipeline."""
