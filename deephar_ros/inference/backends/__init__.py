"""Back ends of the inference engine, one module per way of running the network (see engine.py)."""
