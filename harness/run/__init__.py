"""A run: request, data loading, provenance, the pipeline, and the grid."""
