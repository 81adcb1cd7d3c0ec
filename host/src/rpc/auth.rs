//! Bearer tokens: every call but health carries `authorization: Bearer <token>`. The server's token is
//! given by flag or environment, or generated at its first start into `token` (mode 0600) in its data
//! dir, where a local `weir` client finds it.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use thiserror::Error;
use tonic::{Request, Status};

/// Why the token could not be read or made.
#[derive(Debug, Error)]
#[error("token file {path}: {source}")]
pub struct TokenError {
    /// The file.
    pub path: PathBuf,
    /// The error.
    pub source: std::io::Error,
}

/// A server's token.
#[derive(Clone)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A token given by the operator of the server.
    pub fn given(token: &str) -> Token {
        Token(token.trim().to_string())
    }

    /// The token in `data/token`, generated (32 random bytes, hex) when the file does not exist.
    pub fn in_data_dir(data: &Path) -> Result<Token, TokenError> {
        let path = data.join("token");
        let err = |source| TokenError { path: path.clone(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) if !text.trim().is_empty() => return Ok(Token::given(&text)),
            Ok(_) => {
                let empty = std::io::Error::other("the token file is empty: remove it to have a new token made");
                return Err(err(empty));
            }
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(err(e)),
            Err(_) => {}
        }
        let token = hex::encode(rand::random::<[u8; 32]>());
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map_err(err)?;
        file.write_all(token.as_bytes()).map_err(err)?;
        Ok(Token(token))
    }

    /// The token's text.
    pub fn secret(&self) -> &str {
        &self.0
    }
}

/// The interceptor that refuses calls without the token.
#[derive(Clone)]
pub(super) struct Check {
    expected: String,
}

impl Check {
    pub(super) fn new(token: Token) -> Check {
        Check { expected: format!("Bearer {}", token.0) }
    }
}

/// Compares in time independent of where the strings differ, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl tonic::service::Interceptor for Check {
    fn call(&mut self, request: Request<()>) -> Result<Request<()>, Status> {
        match request.metadata().get("authorization") {
            None => Err(Status::unauthenticated(
                "missing `authorization: Bearer <token>`; the token is in the `token` file of the server's data dir",
            )),
            Some(v) if same(v.as_bytes(), self.expected.as_bytes()) => Ok(request),
            Some(_) => Err(Status::unauthenticated("wrong token")),
        }
    }
}
