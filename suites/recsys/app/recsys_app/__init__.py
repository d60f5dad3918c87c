"""The recsys suite's Ray Serve app: a FastAPI ingress that synthesizes feature rows and a
batched MiniDLRM ranker behind it (`recsys_app.app:build`, `recsys_app.app:app`)."""
