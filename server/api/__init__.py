"""The HTTP front: connections and framing, routing, the endpoints, bodies, OpenAPI."""
