"""traffic_access package."""
