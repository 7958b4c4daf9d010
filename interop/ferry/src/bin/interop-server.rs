//! Ferry's grpc.testing interop server.
//!
//! ```text
//! interop-server --port=PORT [--use_tls=true --cert_file=server.pem --key_file=server.key]
//! ```

use std::net::SocketAddr;

use clap::Parser;
use ferry::tls::{Identity, ServerTlsConfig};
use ferry_interop::parse_bool;
use ferry_interop::pb::test_service_server::TestServiceServer;
use ferry_interop::server::TestServer;

/// The standard interop server flags (and where the TLS identity is).
#[derive(Parser, Debug)]
#[command(rename_all = "snake_case")]
struct Args {
    /// The port to listen on (127.0.0.1).
    #[arg(long)]
    port: u16,
    /// Serve TLS.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    use_tls: bool,
    /// The server certificate chain (PEM), with --use_tls.
    #[arg(long)]
    cert_file: Option<String>,
    /// The server key (PEM), with --use_tls.
    #[arg(long)]
    key_file: Option<String>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let mut builder = ferry::Server::builder().add_service(TestServiceServer::new(TestServer));
    if args.use_tls {
        let (Some(cert), Some(key)) = (&args.cert_file, &args.key_file) else {
            return Err("--use_tls needs --cert_file and --key_file".into());
        };
        builder = builder.tls(ServerTlsConfig::new(Identity::from_pem_files(cert, key)?));
    }
    let server = builder.try_build()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], args.port));
    println!("listening on {addr}");
    server.serve(addr).await?;
    Ok(())
}
