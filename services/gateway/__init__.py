"""The HTTP/JSON gateway: public REST endpoints translated to gRPC calls on the services."""
