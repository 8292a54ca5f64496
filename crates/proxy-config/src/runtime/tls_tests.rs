//! Tests of TLS transport-socket compilation.
