"""The Docker-free local stack: reads template.yaml, runs the real handlers against an embedded moto server."""
