//! What a text source (socket, directory) makes of one line: a `text` record, or with `format = "json"`
//! or `"csv"` a `json` record whose fields expressions read as `value.FIELD`. A line that cannot become
//! a record — too long, not UTF-8, not JSON, a CSV row of the wrong width — goes to the dead letters with
//! the reason and the line itself (its bytes escaped), never dropped or decoded lossily.

use std::borrow::Cow;

use weir_sdk::packed::Kind;

use super::SourceEvent;
use crate::graph::spec::{BROKER_TIMESTAMP, LineFormat, SourceSpec};

/// Bytes of a refused line kept in its dead letter.
const REFUSED_PREFIX: usize = 256;

/// A line that cannot become a record: what goes to the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The line, or its first bytes, with bytes outside printable ASCII escaped when it is not text.
    pub input: String,
    /// Why.
    pub reason: String,
}

impl From<Refused> for SourceEvent {
    fn from(r: Refused) -> SourceEvent {
        SourceEvent::Bad { input: r.input, reason: r.reason }
    }
}

/// How a source reads its lines.
#[derive(Debug, Clone)]
pub struct Lines {
    /// Longest line taken, in bytes.
    pub max_record_bytes: usize,
    /// What a line holds.
    pub format: LineFormat,
    /// The names of a CSV line's fields, in order.
    pub columns: Vec<String>,
    /// The field holding a record's event time (JSON and CSV lines), as a path of field names.
    pub event_time: Option<Vec<String>>,
    /// A record's event time is its message's timestamp at the broker (a `kafka` source's
    /// `event_time = "@timestamp"`), which the source passes along with each message.
    pub broker_time: bool,
}

impl Default for Lines {
    fn default() -> Self {
        Lines {
            max_record_bytes: usize::MAX,
            format: LineFormat::Text,
            columns: Vec::new(),
            event_time: None,
            broker_time: false,
        }
    }
}

/// What one line became: its kind, its value bytes and its event time (0: its batch's time).
pub type Read<'a> = (Kind, Cow<'a, [u8]>, i64);

impl Lines {
    /// How source `spec` reads its lines (`None` for sources that do not read text lines).
    pub fn of(spec: &SourceSpec) -> Option<Lines> {
        let (SourceSpec::Socket { max_record_bytes, format, columns, event_time, .. }
        | SourceSpec::Directory { max_record_bytes, format, columns, event_time, .. }
        | SourceSpec::Kafka { max_record_bytes, format, columns, event_time, .. }
        | SourceSpec::Nats { max_record_bytes, format, columns, event_time, .. }
        | SourceSpec::Redis { max_record_bytes, format, columns, event_time, .. }
        | SourceSpec::Rabbitmq { max_record_bytes, format, columns, event_time, .. }
        | SourceSpec::Mqtt { max_record_bytes, format, columns, event_time, .. }) = spec
        else {
            return None;
        };
        let max_record_bytes = usize::try_from(max_record_bytes.as_u64()).unwrap_or(usize::MAX);
        let broker_time = event_time.as_deref() == Some(BROKER_TIMESTAMP);
        let field = event_time.as_ref().filter(|_| !broker_time);
        let event_time = field.map(|f| f.split('.').map(str::to_string).collect());
        Some(Lines { max_record_bytes, format: *format, columns: columns.clone(), event_time, broker_time })
    }

    /// How to read the lines of this source's write-ahead log: what it logged are record values, so
    /// CSV lines come back as the JSON objects they became.
    pub fn as_logged(&self) -> Lines {
        let format = if self.format == LineFormat::Csv { LineFormat::Json } else { self.format };
        Lines {
            max_record_bytes: usize::MAX,
            format,
            columns: Vec::new(),
            event_time: self.event_time.clone(),
            ..*self
        }
    }

    /// True when lines become `text` records as they are, so valid text needs no check per line.
    pub fn plain(&self) -> bool {
        self.format == LineFormat::Text && self.event_time.is_none() && !self.broker_time
    }

    /// The record `line` becomes (its kind, value bytes and event time), or the dead letter to send instead.
    ///
    /// ```
    /// use weir::graph::spec::LineFormat;
    /// use weir::receiver::lines::{Lines, Refused};
    /// let text = Lines { max_record_bytes: 8, ..Lines::default() };
    /// assert_eq!(text.read(b"fine").unwrap().2, 0, "no event time: the batch's");
    /// let Err(Refused { input, reason }) = text.read(b"caf\xe9") else { panic!() };
    /// assert_eq!((input.as_str(), reason.as_str()), ("caf\\xe9", "not UTF-8 text (invalid byte at 3); the input is shown with its bytes escaped"));
    /// let Err(Refused { reason, .. }) = text.read(b"0123456789") else { panic!() };
    /// assert_eq!(reason, "a line of 10 bytes is longer than max_record_bytes (8); the input shows its first bytes");
    /// let csv = Lines { format: LineFormat::Csv, columns: vec!["user".into(), "price".into()], ..Lines::default() };
    /// assert_eq!(csv.read(b"ann,4.5").unwrap().1.as_ref(), br#"{"price":4.5,"user":"ann"}"#);
    /// let timed = Lines { format: LineFormat::Json, event_time: Some(vec!["at".into()]), ..Lines::default() };
    /// assert_eq!(timed.read(br#"{"at": 1700000000123}"#).unwrap().2, 1_700_000_000_123);
    /// assert_eq!(timed.read(br#"{"at": "2023-11-14T22:13:20.5Z"}"#).unwrap().2, 1_700_000_000_500);
    /// assert!(timed.read(br#"{"when": 1}"#).unwrap_err().reason.contains("no field `at`"));
    /// let Err(Refused { reason, .. }) = csv.read(b"ann") else { panic!() };
    /// assert_eq!(reason, "a CSV line of 1 fields; the source's columns are user, price");
    /// let json = Lines { format: LineFormat::Json, ..Lines::default() };
    /// assert!(json.read(br#"{"a": 1}"#).is_ok() && json.read(b"{oops").is_err());
    /// ```
    pub fn read<'a>(&self, line: &'a [u8]) -> Result<Read<'a>, Refused> {
        let bad = |input: String, reason: String| Refused { input, reason };
        if line.len() > self.max_record_bytes {
            let input = line[..line.len().min(REFUSED_PREFIX)].escape_ascii().to_string();
            let reason = format!(
                "a line of {} bytes is longer than max_record_bytes ({}); the input shows its first bytes",
                line.len(),
                self.max_record_bytes
            );
            return Err(bad(input, reason));
        }
        let text = std::str::from_utf8(line).map_err(|e| {
            let reason = format!(
                "not UTF-8 text (invalid byte at {}); the input is shown with its bytes escaped",
                e.valid_up_to()
            );
            bad(line.escape_ascii().to_string(), reason)
        })?;
        let (kind, value, parsed) = match self.format {
            LineFormat::Text => (Kind::Text, Cow::Borrowed(line), None),
            LineFormat::Json => match serde_json::from_str::<serde_json::Value>(text) {
                Ok(v) => (Kind::Json, Cow::Borrowed(line), Some(v)),
                Err(e) => return Err(bad(text.to_string(), format!("not a JSON value: {e}"))),
            },
            LineFormat::Csv => {
                let object = self.csv(text)?;
                let json = serde_json::Value::Object(object);
                (Kind::Json, Cow::Owned(json.to_string().into_bytes()), Some(json))
            }
        };
        let time = match (&self.event_time, parsed) {
            (Some(path), Some(v)) => event_time(&v, path).map_err(|reason| bad(text.to_string(), reason))?,
            _ => 0,
        };
        Ok((kind, value, time))
    }

    /// A CSV line as a JSON object of the source's columns; numbers become numbers.
    fn csv(&self, text: &str) -> Result<serde_json::Map<String, serde_json::Value>, Refused> {
        let bad = |reason: String| Refused { input: text.to_string(), reason };
        let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(text.as_bytes());
        let row = match reader.records().next() {
            Some(Ok(row)) => row,
            Some(Err(e)) => return Err(bad(format!("not a CSV line: {e}"))),
            None => csv::StringRecord::new(),
        };
        if row.len() != self.columns.len() {
            let reason =
                format!("a CSV line of {} fields; the source's columns are {}", row.len(), self.columns.join(", "));
            return Err(bad(reason));
        }
        let field = |s: &str| match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(i), _) => serde_json::Value::from(i),
            (_, Ok(f)) if f.is_finite() => serde_json::Value::from(f),
            _ => serde_json::Value::from(s),
        };
        Ok(self.columns.iter().cloned().zip(row.iter().map(field)).collect())
    }
}

/// The event time in field `path` of `value`: milliseconds since the epoch, or an RFC 3339 time in UTC.
fn event_time(value: &serde_json::Value, path: &[String]) -> Result<i64, String> {
    let name = path.join(".");
    let field = path
        .iter()
        .try_fold(value, |v, p| v.get(p))
        .ok_or_else(|| format!("the record has no field `{name}` for its event time"))?;
    let ms = match field {
        serde_json::Value::Number(n) => n.as_i64(),
        serde_json::Value::String(s) => humantime::parse_rfc3339(s)
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_millis()).ok()),
        _ => None,
    };
    match ms {
        Some(ms) if ms > 0 => Ok(ms),
        _ => Err(format!(
            "field `{name}` ({field}) is not an event time: write milliseconds since the epoch or an RFC 3339 time in UTC"
        )),
    }
}
