"""traffic_metrics package."""
