//! The loopback ceiling for streaming throughput: a trivial TCP receiver
//! that reads and discards, and a sender that writes `SIZE`-byte buffers for
//! `SECONDS`. No framing, no protocol: what any RPC stack is measured
//! against.
//!
//! ```sh
//! tcp-ceiling receive 127.0.0.1:50060
//! tcp-ceiling send 127.0.0.1:50060 1048576 5     # prints bytes/s as JSON
//! ```

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn receive(addr: &str) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    let mut buf = vec![0u8; 1 << 20];
    for stream in listener.incoming() {
        let mut stream = stream?;
        while stream.read(&mut buf)? > 0 {}
    }
    Ok(())
}

fn send(addr: &str, size: usize, seconds: f64) -> std::io::Result<()> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let buf = vec![0x5au8; size.max(1)];
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(seconds);
    let mut sent = 0u64;
    while Instant::now() < until {
        stream.write_all(&buf)?;
        sent += buf.len() as u64;
    }
    // Done once the receiver has read everything and closed its side.
    stream.shutdown(Shutdown::Write)?;
    let mut rest = [0u8; 16];
    while stream.read(&mut rest)? > 0 {}
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "{{\"bytes\": {sent}, \"elapsed_s\": {elapsed:.3}, \"bytes_per_s\": {:.0}}}",
        sent as f64 / elapsed
    );
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["receive", addr] => receive(addr),
        ["send", addr, size, seconds] => match (size.parse(), seconds.parse()) {
            (Ok(size), Ok(seconds)) => send(addr, size, seconds),
            _ => Err(std::io::Error::other("SIZE and SECONDS must be numbers")),
        },
        _ => Err(std::io::Error::other(
            "usage: tcp-ceiling receive ADDR | tcp-ceiling send ADDR SIZE SECONDS",
        )),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tcp-ceiling: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
