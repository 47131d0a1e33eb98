"""Workloads the conformance scenarios deploy (they run as Deployments in the mesh)."""
