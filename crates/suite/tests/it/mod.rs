mod config;
mod run;
mod server;
