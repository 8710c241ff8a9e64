"""The HTTP layer: Sanic blueprints per resource, parsing requests and rendering domain results."""
