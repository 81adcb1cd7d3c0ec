//! Logging from a plugin into the host log, tagged there with the job and operator.
//!
//! Inside a component the lines go through the WIT `log` import; in native tests they go to stderr.

fn emit(level: &str, message: &str) {
    #[cfg(all(feature = "guest", target_arch = "wasm32"))]
    {
        use crate::guest::bindings::weir::operator::types::LogLevel;
        let level = match level {
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            _ => LogLevel::Error,
        };
        crate::guest::log(level, message);
    }
    #[cfg(not(all(feature = "guest", target_arch = "wasm32")))]
    eprintln!("[{level}] {message}");
}

/// Logs at debug level.
///
/// ```
/// weir_sdk::log::debug("detail");
/// ```
pub fn debug(message: &str) {
    emit("debug", message)
}

/// Logs at info level.
///
/// ```
/// weir_sdk::log::info("started");
/// ```
pub fn info(message: &str) {
    emit("info", message)
}

/// Logs at warn level.
///
/// ```
/// weir_sdk::log::warn("odd input");
/// ```
pub fn warn(message: &str) {
    emit("warn", message)
}

/// Logs at error level.
///
/// ```
/// weir_sdk::log::error("broken");
/// ```
pub fn error(message: &str) {
    emit("error", message)
}
