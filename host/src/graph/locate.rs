//! Where in a spec's text a parse error belongs. Serde reports a mistyped or unknown field of a tagged
//! table (a source, stream, sink or table, chosen by `kind`/`op`) at the table's header, and a mistyped
//! field of a plain table at its value without naming it; both are turned into the field's full path
//! and its own line, as the spec checks report them.

/// A parse error placed on its field.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Located {
    /// 1-based line of the field.
    pub line: usize,
    /// Dotted path of the field, e.g. `streams.n.partitions`.
    pub field: String,
    /// The parser's message, without its own location.
    pub message: String,
}

/// The field a parse error is about, when the text shows it.
pub(super) fn locate(text: &str, e: &toml::de::Error) -> Option<Located> {
    let span = e.span()?;
    let message = e.message().trim().to_string();
    let line_no = text[..span.start.min(text.len())].matches('\n').count() + 1;
    let line = text.lines().nth(line_no - 1)?;
    let (header, table) = table_of(text, line_no);
    let path = |key: &str| if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
    if line.trim_start().starts_with('[') {
        let wanted = unknown_field(&message).or_else(|| quoted_value(&message))?;
        let by_key = message.contains("unknown field");
        let (at, key, _) =
            fields(text, header).find(|(_, k, v)| if by_key { *k == wanted } else { same_value(v, wanted) })?;
        return Some(Located { line: at, field: path(key), message });
    }
    let key = line.split_once('=')?.0.trim().trim_matches('"');
    Some(Located { line: line_no, field: path(key), message })
}

/// The line of the table header at or above `line_no` (0 for none) and the table's dotted name.
fn table_of(text: &str, line_no: usize) -> (usize, String) {
    let lines: Vec<&str> = text.lines().take(line_no).collect();
    for (i, l) in lines.iter().enumerate().rev() {
        let l = l.trim();
        if let Some(name) = l.strip_prefix('[').and_then(|r| r.split(']').next()) {
            return (i + 1, name.split('.').map(|p| p.trim().trim_matches('"')).collect::<Vec<_>>().join("."));
        }
    }
    (0, String::new())
}

/// The `key = value` lines of the table whose header is at line `header`: (line, key, value text).
fn fields(text: &str, header: usize) -> impl Iterator<Item = (usize, &str, &str)> {
    let lines = text.lines().enumerate().skip(header);
    let lines = lines.take_while(|(_, l)| !l.trim_start().starts_with('['));
    lines.filter_map(|(i, l)| {
        let (k, v) = l.split_once('=')?;
        Some((i + 1, k.trim().trim_matches('"'), v.trim()))
    })
}

/// The field an "unknown field `x`" message names.
fn unknown_field(message: &str) -> Option<&str> {
    message.split("unknown field `").nth(1)?.split('`').next()
}

/// The value serde quotes in "invalid type: string \"four\", …" or "invalid value: integer `-1`, …".
fn quoted_value(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: "))?;
    let rest = rest.split_once(' ')?.1;
    if let Some(inner) = rest.strip_prefix('"') {
        let end = inner.find("\", ")? + 2;
        return Some(&rest[..end]);
    }
    rest.strip_prefix('`')?.split('`').next()
}

/// True when the value text `v` of a line is the literal serde quoted (a comment may follow).
fn same_value(v: &str, literal: &str) -> bool {
    let v = match v.strip_prefix('\'') {
        Some(single) => format!("\"{}", single.replacen('\'', "\"", 1)),
        None => v.to_string(),
    };
    v.strip_prefix(literal).is_some_and(|rest| rest.trim_start().is_empty() || rest.trim_start().starts_with('#'))
}

#[cfg(test)]
mod tests {
    use super::{Located, locate};

    fn located(text: &str) -> Located {
        let e = toml::from_str::<crate::graph::spec::JobSpec>(text).expect_err("a bad spec");
        locate(text, &e).unwrap_or_else(|| panic!("not located: {e}"))
    }

    const SPEC: &str = "[job]\nname = \"j\"\nbatch_interval = \"1s\"\n\n[sources.in]\nkind = \"generator\"\nrate = 10\n\n[streams.n]\nop = \"repartition\"\nfrom = \"in\"\npartitions = 4\n\n[sinks.o]\nkind = \"print\"\nfrom = \"n\"\n";

    #[test]
    fn a_mistyped_field_is_named_with_its_full_path_and_own_line() {
        let cases = [
            ("partitions = 4", "partitions = \"four\"", 12, "streams.n.partitions", "string \"four\""),
            ("partitions = 4", "partitions = 'four' # four", 12, "streams.n.partitions", "string \"four\""),
            ("partitions = 4", "partitions = -1", 12, "streams.n.partitions", "integer `-1`"),
            ("rate = 10", "rate = true", 7, "sources.in.rate", "boolean `true`"),
            (
                "name = \"j\"\nbatch_interval = \"1s\"",
                "name = \"j\"\nbatch_interval = \"1s\"\nworkers = \"two\"",
                4,
                "job.workers",
                "string \"two\"",
            ),
        ];
        for (from, to, line, field, says) in cases {
            let l = located(&SPEC.replace(from, to));
            assert_eq!((l.line, l.field.as_str()), (line, field), "{to}: {}", l.message);
            assert!(l.message.contains(says), "{to}: {}", l.message);
        }
    }

    #[test]
    fn an_unknown_field_of_a_tagged_table_is_named_at_its_line() {
        let l = located(&SPEC.replace("from = \"n\"", "from = \"n\"\nlines = 3"));
        assert_eq!((l.line, l.field.as_str()), (17, "sinks.o.lines"), "{}", l.message);
    }
}
