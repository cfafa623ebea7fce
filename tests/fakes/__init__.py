"""Real-HTTP stand-ins for the services eqlwatch talks to (Elasticsearch, Kibana)."""
