"""Version-matrix bisection harness for the docker-compose / docker build layer-cache miss."""

__version__ = "0.2.0"
