"""Example jasper plugin: a focal InfoNCE loss and a cosine-centroid router."""
