"""traffic_split package."""
