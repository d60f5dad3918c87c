#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod cli;
mod http;
pub mod server;
mod sse;
pub mod stream_server;
mod sweep;
