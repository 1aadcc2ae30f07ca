//! Test support for Logoscope: the real servers tests talk to, started on
//! loopback and stopped on drop. No mocks live here. Depends on nothing of
//! Logoscope's, so any crate's tests can use it.
//!
//! ```no_run
//! let Some(moto) = logoscope_testkit::Moto::start() else { return };
//! moto.create_bucket("logs");
//! assert!(moto.endpoint().starts_with("http://127.0.0.1:"));
//! ```

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A deterministic xorshift64 generator for tests that compare a fast path
/// with a plain one over many random inputs: the same seed gives the same
/// inputs on every run and machine.
///
/// ```
/// let mut rng = logoscope_testkit::XorShift::new(42);
/// assert!(rng.below(10) < 10);
/// ```
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from `seed` (0 is replaced, as xorshift would stay at 0).
    pub fn new(seed: u64) -> Self {
        XorShift(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index into something of length `len` (> 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }
}

/// Set (by `.ci/run`) when the S3 tests must run rather than skip.
pub const REQUIRE_S3: &str = "LOGOSCOPE_REQUIRE_S3";

/// moto's S3-compatible server (`python3 -m moto.server`, from PyPI's
/// `moto[server]`) on a free loopback port; killed on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts moto and waits until it listens. `None` (with a note on stderr)
    /// when moto is not installed; a panic instead when [`REQUIRE_S3`] is set.
    pub fn start() -> Option<Moto> {
        let importable = Command::new("python3")
            .args(["-c", "import moto.server"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !importable {
            assert!(
                std::env::var_os(REQUIRE_S3).is_none(),
                "{REQUIRE_S3} is set but `python3 -m moto.server` is not importable (run .ci/setup)"
            );
            eprintln!("skipping: moto[server] is not installed (run .ci/setup)");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto starts");
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not listen on {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(moto)
    }

    /// The port moto listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` / `aws_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates `bucket` with a plain `PUT /bucket` (moto accepts it unsigned).
    pub fn create_bucket(&self, bucket: &str) {
        let port = self.port;
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("read timeout");
        write!(
            stream,
            "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .expect("send request");
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        let status = response.lines().next().unwrap_or_default();
        assert!(status.contains(" 200"), "bucket creation failed: {status}");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
