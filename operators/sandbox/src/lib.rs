//! `sandbox`: a deliberately misbehaving operator for the host's sandbox tests. The input text picks
//! the misbehaviour: `spin` loops forever, `hog` allocates without end, `boom` panics (a trap),
//! `open:<path>` tries to read a file, `env:<name>` reads an environment variable, `connect:<addr>`
//! opens a TCP connection, `print:<text>` writes to stdout and stderr, `clock` reports the wall clock
//! and how long a busy loop took by the monotonic clock (both frozen by the host). Anything else passes
//! through. With the parameter `stall = "init"`, `init` never returns.

use std::hint::black_box;

use weir::Record;

fn attempt<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> String {
    match r {
        Ok(_) => format!("allowed: {what}"),
        Err(e) => format!("denied: {what}: {e}"),
    }
}

/// The optional `margin` parameter must be a number: a bad value refuses the job at start.
/// `stall = "init"` loops here, for the host's deadline on `init`.
fn check_params() -> Result<(), String> {
    if weir::param("stall").as_deref() == Some("init") {
        spin();
    }
    weir::param_as::<f64>("margin").map(|_| ())
}

fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Nanoseconds since the epoch by the wall clock, and those a busy loop took by the monotonic clock.
fn clocks() -> String {
    let wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let start = std::time::Instant::now();
    let sum = (0..5_000_000u64).fold(0u64, |a, i| black_box(a.wrapping_add(i)));
    format!("wall {} elapsed {} ({})", wall.as_nanos(), start.elapsed().as_nanos(), sum % 2)
}

/// Misbehaves on request.
#[weir::map(params = ["margin", "stall"], init = check_params)]
pub fn sandbox(r: Record<'_>) -> Record<'static> {
    let text = r.as_text().unwrap_or_default().to_string();
    let out = match text.split_once(':') {
        _ if text == "spin" => spin(),
        _ if text == "clock" => clocks(),
        _ if text == "hog" => {
            let mut hoard = Vec::new();
            loop {
                hoard.push(black_box(vec![1u8; 1 << 20]));
            }
        }
        _ if text == "boom" => panic!("boom requested"),
        Some(("open", path)) => attempt(path, std::fs::read_to_string(path)),
        Some(("env", name)) => attempt(name, std::env::var(name)),
        Some(("connect", addr)) => attempt(addr, std::net::TcpStream::connect(addr)),
        Some(("print", msg)) => {
            println!("stdout says {msg}");
            eprintln!("stderr says {msg}");
            format!("printed {msg}")
        }
        _ => text,
    };
    Record::text(out)
}

#[cfg(test)]
mod tests {
    use super::Sandbox;
    use weir::testing::Harness;

    #[test]
    fn passes_ordinary_records_through() {
        let out = Harness::<Sandbox>::new().run_texts(&["hello"]).unwrap();
        assert_eq!(out.texts(), vec!["hello"]);
    }

    #[test]
    fn a_margin_that_is_not_a_number_is_refused_naming_it() {
        let err = Harness::<Sandbox>::new().param("margin", "abc").run_texts(&["hello"]).unwrap_err();
        assert_eq!(err, "parameter `margin`: `abc` is not a valid f64 (invalid float literal)");
        assert!(Harness::<Sandbox>::new().param("margin", "0.5").run_texts(&["hello"]).is_ok());
    }
}
