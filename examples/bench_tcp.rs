//! A native TCP load tool for `bench/ports.py`: the backend (a sink for uploads, a source for downloads)
//! and the client, both plain blocking sockets with 1 MiB reads and writes, so they can saturate loopback
//! and the proxy in between is what a route vs direct comparison measures.
//!
//! ```text
//! bench_tcp serve [ADDR]            # listen (default 127.0.0.1:0), print the port, serve until killed
//! bench_tcp upload ADDR BYTES       # send BYTES to ADDR's sink, print one JSON line
//! bench_tcp download ADDR BYTES     # receive BYTES from ADDR's source, print one JSON line
//! ```
//!
//! Wire protocol: `U` then bytes until the client half-closes, answered with the 8-byte big-endian count;
//! `D` and an 8-byte big-endian length, answered with that many bytes and a close. The client's line is
//! `{"kind":"upload","bytes":N,"seconds":S,"mb_per_s":R}`; the time runs from connecting until the
//! backend's count arrived (upload) or the last byte and the close arrived (download).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant;

const CHUNK: usize = 1 << 20;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["serve"] => serve("127.0.0.1:0"),
        ["serve", addr] => serve(addr),
        [kind @ ("upload" | "download"), addr, bytes] => match bytes.parse::<u64>() {
            Ok(bytes) => client(kind, addr, bytes),
            Err(e) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad byte count {bytes:?}: {e}"),
            )),
        },
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: bench_tcp serve [ADDR] | bench_tcp upload|download ADDR BYTES",
        )),
    };
    if let Err(e) = result {
        eprintln!("bench_tcp: {e}");
        std::process::exit(1);
    }
}

fn serve(addr: &str) -> io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    println!("{}", listener.local_addr()?.port());
    io::stdout().flush()?;
    for stream in listener.incoming() {
        let stream = stream?;
        std::thread::spawn(move || {
            if let Err(e) = handle(stream) {
                eprintln!("bench_tcp serve: {e}");
            }
        });
    }
    Ok(())
}

fn handle(mut stream: TcpStream) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let mut mode = [0u8; 1];
    stream.read_exact(&mut mode)?;
    let mut buffer = vec![0u8; CHUNK];
    match &mode {
        b"U" => {
            let total = read_to_eof(&mut stream, &mut buffer)?;
            stream.write_all(&total.to_be_bytes())?;
        }
        b"D" => {
            let mut length = [0u8; 8];
            stream.read_exact(&mut length)?;
            send(&mut stream, &buffer, u64::from_be_bytes(length))?;
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown mode {other:?}"),
            ));
        }
    }
    stream.shutdown(Shutdown::Write)
}

fn send(stream: &mut TcpStream, buffer: &[u8], mut left: u64) -> io::Result<()> {
    while left > 0 {
        let n = usize::try_from(left)
            .unwrap_or(usize::MAX)
            .min(buffer.len());
        stream.write_all(&buffer[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Reads and discards until end of stream; the byte count.
fn read_to_eof(stream: &mut TcpStream, buffer: &mut [u8]) -> io::Result<u64> {
    let mut total = 0u64;
    loop {
        let n = stream.read(buffer)?;
        if n == 0 {
            return Ok(total);
        }
        total += n as u64;
    }
}

fn client(kind: &str, addr: &str, bytes: u64) -> io::Result<()> {
    let mut buffer = vec![0u8; CHUNK];
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr)?;
    stream.set_nodelay(true)?;
    let moved = if kind == "upload" {
        stream.write_all(b"U")?;
        send(&mut stream, &buffer, bytes)?;
        stream.shutdown(Shutdown::Write)?;
        let mut count = [0u8; 8];
        stream.read_exact(&mut count)?;
        u64::from_be_bytes(count)
    } else {
        let mut request = [0u8; 9];
        request[0] = b'D';
        request[1..].copy_from_slice(&bytes.to_be_bytes());
        stream.write_all(&request)?;
        read_to_eof(&mut stream, &mut buffer)?
    };
    let seconds = started.elapsed().as_secs_f64();
    if moved != bytes {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("{kind}: {moved} of {bytes} bytes arrived"),
        ));
    }
    println!(
        "{{\"kind\":\"{kind}\",\"bytes\":{bytes},\"seconds\":{seconds:.6},\"mb_per_s\":{:.1}}}",
        bytes as f64 / seconds / 1e6
    );
    Ok(())
}
