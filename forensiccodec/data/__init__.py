"""Data: photograph collection and training datasets."""
