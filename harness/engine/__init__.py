"""The engine: model loading, training, batched execution, encoding, retrieval, memory."""
