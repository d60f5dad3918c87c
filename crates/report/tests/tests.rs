//! The one integration-test binary of `report` (modules under `tests/suite/`).

mod suite {
    mod cli;
    mod common;
    mod index;
    mod intervals;
    mod llm;
    mod loading;
    mod plots;
    mod published;
    mod recsys;
    mod server;
}
