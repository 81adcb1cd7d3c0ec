//! `sandbox`: a deliberately misbehaving operator for the host's sandbox tests. The input text picks
//! the misbehaviour: `spin` loops forever, `hog` allocates without end, `boom` panics (a trap),
//! `open:<path>` tries to read a file, `env:<name>` reads an environment variable, `connect:<addr>`
//! opens a TCP connection, `print:<text>` writes to stdout and stderr. Anything else passes through.

use std::hint::black_box;

use weir::Record;

fn attempt<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> String {
    match r {
        Ok(_) => format!("allowed: {what}"),
        Err(e) => format!("denied: {what}: {e}"),
    }
}

/// The optional `margin` parameter must be a number: a bad value refuses the job at start.
fn check_margin() -> Result<(), String> {
    weir::param_as::<f64>("margin").map(|_| ())
}

/// Misbehaves on request.
#[weir::map(params = ["margin"], init = check_margin)]
pub fn sandbox(r: Record<'_>) -> Record<'static> {
    let text = r.as_text().unwrap_or_default().to_string();
    let out = match text.split_once(':') {
        _ if text == "spin" => {
            let mut n = 0u64;
            loop {
                n = black_box(n.wrapping_add(1));
            }
        }
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
