//! The suite crate's integration tests (one binary): configuration and plans of the real suites,
//! and the generic run loop end to end against an in-process server (no Ray), for a suite that
//! exists only in test data.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod it;
