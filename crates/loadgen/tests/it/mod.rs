#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod cli;
mod http;
pub mod server;
mod sweep;
