//! The `deploy` crate's integration tests, one binary: configuration files, the Serve REST
//! client against a fake Serve API, the Anyscale backend against the real `anyscale` CLI on
//! its own fake backend (and a hand-written fake for failures), the external backend and
//! probes against fake servers, the managed Python environment, and (with Ray available) a
//! real end-to-end run.

mod support;

mod anyscale;
mod apps;
mod e2e;
mod external;
mod observe;
mod probe;
mod python_env;
mod serve_api;
mod target;
mod variants;
mod yaml;
