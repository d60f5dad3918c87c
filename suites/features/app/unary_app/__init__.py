"""The unary echo chain: FastAPI ingress -> Echo."""
