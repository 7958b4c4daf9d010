//! What the differential and simulation tests share: a seeded PRNG, hex
//! helpers, and a long-lived Python process running a reference
//! implementation (hpack, hyperframe) that answers one line per request.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// xorshift64* (Vigna): small, fast and reproducible from its seed, so a
/// failure replays exactly.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (n > 0); the modulo bias is irrelevant here.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub(crate) fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        lo + self.below(u64::from(hi - lo) + 1) as u32
    }

    pub(crate) fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }

    pub(crate) fn flip(&mut self) -> bool {
        self.next() & 1 == 1
    }

    pub(crate) fn byte(&mut self) -> u8 {
        self.next() as u8
    }

    pub(crate) fn u32(&mut self) -> u32 {
        (self.next() >> 32) as u32
    }

    pub(crate) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below_usize(items.len())]
    }

    pub(crate) fn bytes_from(&mut self, len: usize, alphabet: &[u8]) -> Vec<u8> {
        (0..len)
            .map(|_| alphabet[self.below_usize(alphabet.len())])
            .collect()
    }

    pub(crate) fn any_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.byte()).collect()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

pub(crate) fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| {
            u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex from the reference script")
        })
        .collect()
}

/// The interpreter of the project's venv (see [`ferry_testkit::python`]).
fn python(package: &str) -> &'static Path {
    ferry_testkit::python(&format!("`{package}` as its reference implementation"))
}

/// Sends every request line to one `tests/py/<script>` process (which
/// uses the Python `package`) and returns its answers, one per request, in
/// order.
pub(crate) fn ask(script: &str, package: &str, requests: &[String]) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(script);
    let python = python(package);
    let mut child = Command::new(python)
        .arg(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "could not start {} {}: {e}; run scripts/python-env.sh",
                python.display(),
                path.display()
            )
        });
    let mut stdin = child.stdin.take().expect("piped stdin");
    // A writer thread keeps the pipe full while this thread drains answers,
    // so neither side can block on a full pipe.
    let input: String = requests.iter().flat_map(|r| [r.as_str(), "\n"]).collect();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let answers: Vec<String> = BufReader::new(child.stdout.take().expect("piped stdout"))
        .lines()
        .collect::<Result<_, _>>()
        .expect("reading the reference script's answers");
    let written = writer.join().expect("writer thread");
    let status = child.wait().expect("waiting for the reference script");
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("piped stderr")
        .read_to_string(&mut stderr);
    assert!(
        answers.len() == requests.len() && status.success() && written.is_ok(),
        "{} {} answered {} of {} requests (exit {status}, write {written:?}). Is {package} \
         installed? Run scripts/python-env.sh.\nstderr:\n{stderr}",
        python.display(),
        path.display(),
        answers.len(),
        requests.len(),
    );
    answers
}
