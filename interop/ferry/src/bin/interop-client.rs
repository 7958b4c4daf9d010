//! Ferry's grpc.testing interop client.
//!
//! ```text
//! interop-client --server_host=127.0.0.1 --server_port=PORT --test_case=CASE[,CASE..|all]
//!                [--use_tls=true --use_test_ca=true --ca_file=ca.pem
//!                 --server_host_override=foo.test.google.fr] [--soak_iterations=N]
//! ```
//!
//! Prints `RESULT <tab> case <tab> pass|fail|unsupported <tab> detail` per
//! case and exits with 1 if any case failed.

use std::process::ExitCode;

use clap::Parser;
use ferry_interop::client::{CASES, Outcome, Runner, Target};
use ferry_interop::parse_bool;

/// The standard interop client flags.
#[derive(Parser, Debug)]
#[command(rename_all = "snake_case")]
struct Args {
    /// The server host.
    #[arg(long, default_value = "127.0.0.1")]
    server_host: String,
    /// The server port.
    #[arg(long)]
    server_port: u16,
    /// The name to verify the server's certificate against.
    #[arg(long)]
    server_host_override: Option<String>,
    /// A case, comma-separated cases, or `all`.
    #[arg(long, default_value = "all")]
    test_case: String,
    /// Connect with TLS.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    use_tls: bool,
    /// Trust the test CA (--ca_file) instead of system roots.
    #[arg(long, value_parser = parse_bool, num_args = 0..=1, default_missing_value = "true", default_value = "false")]
    use_test_ca: bool,
    /// The test CA certificate (PEM).
    #[arg(long)]
    ca_file: Option<String>,
    /// Calls in rpc_soak and channel_soak.
    #[arg(long, default_value_t = 10)]
    soak_iterations: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let tls = args
        .use_tls
        .then(|| args.ca_file.clone().filter(|_| args.use_test_ca));
    let target = Target {
        host: args.server_host,
        port: args.server_port,
        host_override: args.server_host_override,
        tls,
        soak_iterations: args.soak_iterations,
    };
    let runner = match Runner::connect(target).await {
        Ok(runner) => runner,
        Err(status) => {
            eprintln!("connect: {status:?}");
            return ExitCode::from(2);
        }
    };
    let cases: Vec<&str> = if args.test_case == "all" {
        CASES.to_vec()
    } else {
        args.test_case.split(',').collect()
    };
    let mut failed = false;
    for case in cases {
        match runner.run(case).await {
            None => println!("RESULT\t{case}\tunsupported\tunknown case"),
            Some(Ok(Outcome::Pass)) => println!("RESULT\t{case}\tpass\t"),
            Some(Ok(Outcome::PassUnchecked(note))) => println!("RESULT\t{case}\tpass\t{note}"),
            Some(Err(e)) => {
                failed = true;
                println!("RESULT\t{case}\tfail\t{}", e.replace('\n', " "));
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
