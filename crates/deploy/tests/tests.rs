//! The `deploy` crate's integration tests, one binary: configuration files, the Serve REST
//! client against a fake Serve API, the Anyscale backend against a fake `anyscale` CLI, the
//! external backend and probes against fake servers, the managed Python environment, and
//! (with Ray available) a real end-to-end run.

mod support;

mod anyscale;
mod apps;
mod e2e;
mod external;
mod probe;
mod python_env;
mod serve_api;
mod target;
mod variants;
mod yaml;
