"""HTTP blueprints: parse input, call one domain service, shape the output. No business rules."""
