#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod cli;
mod codegen;
mod faults;
mod grpc;
mod h1;
mod http;
mod openai;
pub mod server;
mod spec;
mod sse;
mod stability;
pub mod stream_server;
mod sweep;
pub mod tls;
