//! Logoscope's integration tests: one binary, the real `logoscope` executable,
//! real files, and a real S3-compatible server on loopback.

mod atomic;
mod bad_input;
mod cli;
mod eval;
mod inputs;
mod interop;
mod s3;
mod util;
