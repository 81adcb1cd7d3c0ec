//! Text helpers for operators that split text, tuned for the common all-ASCII case.

/// The words of `s`: the non-empty pieces between runs of Unicode whitespace, exactly as
/// [`str::split_whitespace`] gives them, but testing ASCII bytes with a single comparison and decoding
/// only the non-ASCII characters (a tokenizer spends most of its time here).
///
/// ```
/// let w: Vec<&str> = weir_sdk::text::words(" the\tquick\u{3000}brown  fox\n").collect();
/// assert_eq!(w, ["the", "quick", "brown", "fox"]);
/// ```
pub fn words(s: &str) -> Words<'_> {
    Words { s, at: 0 }
}

/// Iterator returned by [`words`].
#[derive(Debug, Clone)]
pub struct Words<'a> {
    s: &'a str,
    at: usize,
}

impl Words<'_> {
    /// The width of the whitespace character at byte `i` of the text, or 0 when it is not whitespace.
    #[inline]
    fn space_at(&self, i: usize) -> usize {
        let b = self.s.as_bytes()[i];
        if b < 0x80 {
            return usize::from(b == b' ' || (b'\t'..=b'\r').contains(&b));
        }
        // `i` starts a character: the text is valid UTF-8 and only ASCII bytes were skipped one by one.
        match self.s[i..].chars().next() {
            Some(c) if c.is_whitespace() => c.len_utf8(),
            _ => 0,
        }
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        let n = self.s.len();
        let mut i = self.at;
        loop {
            if i >= n {
                self.at = n;
                return None;
            }
            match self.space_at(i) {
                0 => break,
                w => i += w,
            }
        }
        let start = i;
        while i < n && self.space_at(i) == 0 {
            let b = self.s.as_bytes()[i];
            // Step over a whole character so the next test starts on a character boundary.
            i += if b < 0x80 { 1 } else { self.s[i..].chars().next().map_or(1, char::len_utf8) };
        }
        self.at = i;
        Some(&self.s[start..i])
    }
}

#[cfg(test)]
mod tests {
    use super::words;

    #[test]
    fn agrees_with_split_whitespace() {
        let cases = [
            "",
            "   ",
            "a",
            " a ",
            "the quick  brown\tfox",
            "x\u{a0}y\u{85}z\u{2028}w\u{3000}v\u{1680}u\u{2009}t",
            "naïve café\u{200b}zero-width-is-not-space",
            "日本語 テキスト\r\nline",
            "\u{feff}bom\u{b}vt\u{c}ff",
            "end\u{3000}",
        ];
        for c in cases {
            let expected: Vec<&str> = c.split_whitespace().collect();
            assert_eq!(words(c).collect::<Vec<_>>(), expected, "{c:?}");
        }
    }
}
