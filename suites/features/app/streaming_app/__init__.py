"""The streaming chain: MyDeployment -> GrandChildDeployment (SSE)."""
