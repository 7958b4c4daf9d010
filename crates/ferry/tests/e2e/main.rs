//! End-to-end tests of the runtime over real sockets, one module per feature.

mod blocking;
mod calls;
mod cancel;
mod certs;
mod compression;
mod grpcio;
mod hostile;
mod hostile_server;
mod http;
mod interceptors;
mod isolation;
mod leaks;
mod lifecycle;
mod native;
mod support;
mod tls;
mod trailers;
mod wiretap;
