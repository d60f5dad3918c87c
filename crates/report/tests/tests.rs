//! The one integration-test binary of `report` (modules under `tests/suite/`).

mod suite {
    mod cli;
    mod common;
    mod loading;
    mod plots;
    mod published;
}
