//! Integration tests of `loadgen` (one test binary): real hyper servers on 127.0.0.1 stand in for
//! the system under test, since these tests are about the client itself.

mod it;
