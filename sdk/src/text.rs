//! Text helpers for operators that split text, in any script, at about the cost of its bytes.

/// The words of `s`: the non-empty pieces between runs of Unicode whitespace, exactly as
/// [`str::split_whitespace`] gives them. Text whose only whitespace is ASCII (nearly every line, in any
/// script) is split from bit masks of its whitespace bytes, many bytes at a time, with no branch per
/// byte: in UTF-8 every byte of a non-ASCII character is 0x80 or above, so an ASCII whitespace byte is
/// never part of another character. Only a line holding a non-ASCII whitespace character (`U+3000`,
/// a no-break space, …) is decoded character by character.
///
/// ```
/// let w: Vec<&str> = weir_sdk::text::words(" the\tquick\u{3000}brown  fox\n").collect();
/// assert_eq!(w, ["the", "quick", "brown", "fox"]);
/// let w: Vec<&str> = weir_sdk::text::words("to be or not to be").collect();
/// assert_eq!(w, ["to", "be", "or", "not", "to", "be"]);
/// let w: Vec<&str> = weir_sdk::text::words("naïve 日本語 café").collect();
/// assert_eq!(w, ["naïve", "日本語", "café"]);
/// ```
#[inline(always)]
pub fn words(s: &str) -> Words<'_> {
    if is_ascii(s.as_bytes()) || !has_wide_space(s) {
        Words(Inner::Masks(MaskWords { s, base: 0, edges: 0, space_before: 1, start: 0, open: false }))
    } else {
        Words(Inner::Unicode(UnicodeWords { s, at: 0 }))
    }
}

/// Iterator returned by [`words`].
#[derive(Debug, Clone)]
pub struct Words<'a>(Inner<'a>);

#[derive(Debug, Clone)]
enum Inner<'a> {
    Masks(MaskWords<'a>),
    Unicode(UnicodeWords<'a>),
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            Inner::Masks(w) => w.next(),
            Inner::Unicode(w) => w.next(),
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;
const SPACES: u64 = 0x20 * ONES;

/// True when every byte is below 0x80, tested eight bytes at a time (`<[u8]>::is_ascii` takes four at
/// a time on 32-bit Wasm). Also what [`crate::packed`] uses to skip the UTF-8 check of ASCII text.
#[inline]
pub(crate) fn is_ascii(bytes: &[u8]) -> bool {
    let mut chunks = bytes.chunks_exact(8);
    let high = chunks.by_ref().fold(0, |h, c| h | u64::from_le_bytes(c.try_into().expect("8 bytes")));
    let rest = chunks.remainder().iter().fold(0, |h, &b| h | u64::from(b));
    (high | rest) & HIGH == 0
}

/// True when `s` holds a whitespace character outside ASCII: U+0085, U+00A0, U+1680, U+2000 to
/// U+200A, U+2028, U+2029, U+202F, U+205F or U+3000. Their UTF-8 forms all begin with byte 0xC2, 0xE1,
/// 0xE2 or 0xE3 (lead bytes, never inside a character), so only those are decoded; eight bytes with no
/// byte of 0x80 or above are passed over at once.
///
/// ```
/// # use weir_sdk::text::words;
/// assert_eq!(words("ア“x”\u{a0}y").collect::<Vec<_>>(), ["ア“x”", "y"]);
/// ```
#[inline]
fn has_wide_space(s: &str) -> bool {
    let b = s.as_bytes();
    let mut at = 0;
    while at < b.len() {
        let end = (at + 8).min(b.len());
        let chunk = &b[at..end];
        if chunk.iter().fold(0, |h, &c| h | c) >= 0x80
            && chunk.iter().enumerate().any(|(k, &c)| {
                matches!(c, 0xC2 | 0xE1..=0xE3) && s[at + k..].chars().next().is_some_and(char::is_whitespace)
            })
        {
            return true;
        }
        at = end;
    }
    false
}

/// One bit per byte of `v` (eight bytes of UTF-8, little-endian): set where the byte is ASCII
/// whitespace (space, or `\t` to `\r`, as `char::is_whitespace` has it).
#[inline]
fn space_bits(v: u64) -> u64 {
    // The range tests run on the low seven bits of each byte, so no addition carries into the next
    // byte; a byte of 0x80 or above (part of a non-ASCII character) is then taken out.
    let low = v & !HIGH;
    let x = v ^ SPACES;
    let is_space = !(((x & !HIGH) + !HIGH) | x) & HIGH;
    let from_tab = (low + (0x80 - 0x09) * ONES) & HIGH;
    let from_so = (low + (0x80 - 0x0e) * ONES) & HIGH;
    let m = (is_space | (from_tab & !from_so & !v)) >> 7;
    // Gathers bit 0 of each byte into the top byte, byte k to bit 56 + k.
    m.wrapping_mul(0x0102_0408_1020_4080) >> 56
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
/// One bit per byte of `b[at..at + 16]`, set where the byte is ASCII whitespace (as [`space_bits`]).
///
/// # Safety
/// `at + 16 <= b.len()`.
#[inline(always)]
unsafe fn space_mask16(b: &[u8], at: usize) -> u64 {
    use core::arch::wasm32::{i8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, u8x16_sub, v128, v128_load, v128_or};
    debug_assert!(at + 16 <= b.len());
    // SAFETY: the 16 bytes from `at` are inside `b` (the caller's contract); Wasm loads need no alignment.
    let v = unsafe { v128_load(b.as_ptr().add(at).cast::<v128>()) };
    let space = u8x16_eq(v, u8x16_splat(b' '));
    // `\t` to `\r` (0x09 to 0x0d): the byte minus 9 is below 5.
    let control = u8x16_lt(u8x16_sub(v, u8x16_splat(0x09)), u8x16_splat(5));
    u64::from(i8x16_bitmask(v128_or(space, control)))
}

/// Splits text whose only whitespace is ASCII: for each block of 64 bytes, a mask with a bit per
/// whitespace byte (bytes past the end count as whitespace); its set bits where the mask changes are word starts and ends, in turn.
#[derive(Debug, Clone)]
struct MaskWords<'a> {
    s: &'a str,
    /// Start of the block after the one `edges` came from.
    base: usize,
    /// Word edges of the current block not yet taken, as bits relative to `base - 64`.
    edges: u64,
    /// 1 when the byte before `base` is whitespace (or there is none).
    space_before: u64,
    /// Where the word being read started.
    start: usize,
    /// True between a word's start and its end.
    open: bool,
}

impl<'a> MaskWords<'a> {
    /// Eight bytes from `at` as a little-endian word, padded with spaces past the end.
    #[inline]
    fn chunk(&self, at: usize) -> u64 {
        let b = self.s.as_bytes();
        if let Some(c) = b.get(at..at + 8) {
            return u64::from_le_bytes(c.try_into().expect("eight bytes"));
        }
        let n = b.len() - at;
        let padding = SPACES << (8 * n);
        if b.len() >= 8 {
            // The last eight bytes, shifted down past the ones already seen.
            let last = u64::from_le_bytes(b[b.len() - 8..].try_into().expect("eight bytes"));
            return (last >> (8 * (8 - n))) | padding;
        }
        b[at..].iter().rev().fold(0u64, |w, &c| (w << 8) | u64::from(c)) | padding
    }

    /// The word at `start..end`, without `str` slicing's two character-boundary tests (a quarter of
    /// the scan's work per word in Wasm): every edge is next to an ASCII byte, so on a boundary.
    #[inline]
    fn word(&self, start: usize, end: usize) -> &'a str {
        debug_assert!(start <= end && end <= self.s.len());
        debug_assert!(self.s.is_char_boundary(start) && self.s.is_char_boundary(end));
        // SAFETY: edges are positions where a whitespace byte begins or ends, or the text's start or
        // end. A whitespace byte is ASCII, and an ASCII byte is a whole character in UTF-8, so both are
        // character boundaries; a word's start comes before its end.
        unsafe { self.s.get_unchecked(start..end) }
    }

    /// The whitespace mask of the 64 bytes from `base`, eight at a time (bytes past the end count as
    /// whitespace).
    #[inline(always)]
    fn block_by_eights(&self) -> u64 {
        let mut spaces = 0u64;
        for c in 0..8 {
            let at = self.base + 8 * c;
            let bits = if at < self.s.len() { space_bits(self.chunk(at)) } else { 0xff };
            spaces |= bits << (8 * c);
        }
        spaces
    }

    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    #[inline(always)]
    fn block(&self) -> u64 {
        self.block_by_eights()
    }

    /// The whitespace mask of the 64 bytes from `base`, sixteen at a time with Wasm SIMD (a compare and
    /// a `pmovmskb` each once compiled). A piece that runs past the end is read as the text's last 16
    /// bytes and its mask shifted down, so a line shorter than 64 bytes still takes no byte-wise path.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    fn block(&self) -> u64 {
        let b = self.s.as_bytes();
        if b.len() < 16 {
            return self.block_by_eights();
        }
        let mut spaces = 0u64;
        for c in 0..4 {
            let at = self.base + 16 * c;
            // SAFETY: each piece read is 16 bytes inside `b`: at most up to its end, else its last 16.
            let bits = if at + 16 <= b.len() {
                unsafe { space_mask16(b, at) }
            } else if at < b.len() {
                let n = b.len() - at;
                (unsafe { space_mask16(b, b.len() - 16) } >> (16 - n)) | (0xffff << n)
            } else {
                0xffff
            };
            spaces |= (bits & 0xffff) << (16 * c);
        }
        spaces
    }

    /// Loads the edges of the next block; false when the text has no more blocks.
    #[inline]
    fn load(&mut self) -> bool {
        if self.base >= self.s.len() {
            return false;
        }
        let spaces = self.block();
        self.edges = spaces ^ ((spaces << 1) | self.space_before);
        self.space_before = spaces >> 63;
        self.base += 64;
        true
    }
}

impl<'a> Iterator for MaskWords<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        loop {
            if self.edges == 0 && !self.load() {
                // A word running to the very end of a text whose length is a multiple of 64.
                let open = std::mem::take(&mut self.open);
                return open.then(|| self.word(self.start, self.s.len()));
            }
            while self.edges != 0 {
                let at = self.base - 64 + self.edges.trailing_zeros() as usize;
                self.edges &= self.edges - 1;
                if self.open {
                    self.open = false;
                    return Some(self.word(self.start, at));
                }
                self.start = at;
                self.open = true;
            }
        }
    }
}

/// Splits any text, one character at a time.
#[derive(Debug, Clone)]
struct UnicodeWords<'a> {
    s: &'a str,
    at: usize,
}

impl UnicodeWords<'_> {
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

impl<'a> Iterator for UnicodeWords<'a> {
    type Item = &'a str;

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
            "\t\n\u{b}\u{c}\r \u{1c}\u{1f}\u{8}\u{e}x",
        ];
        for c in cases {
            let expected: Vec<&str> = c.split_whitespace().collect();
            assert_eq!(words(c).collect::<Vec<_>>(), expected, "{c:?}");
        }
    }

    #[test]
    fn text_in_any_script_agrees_with_split_whitespace() {
        // Characters whose UTF-8 bytes look like whitespace to a careless byte test: leads 0xC2 and
        // 0xE1 to 0xE3 that are not spaces, continuation bytes 0x89 to 0x8D and 0xA0, and every
        // non-ASCII whitespace character.
        let alphabet = [
            "a",
            "zz",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "é",
            "ß",
            "日",
            "本",
            "ア",
            "“",
            "…",
            "\u{89}",
            "\u{8d}",
            "\u{a0}",
            "\u{85}",
            "\u{1680}",
            "\u{2000}",
            "\u{200a}",
            "\u{2028}",
            "\u{2029}",
            "\u{202f}",
            "\u{205f}",
            "\u{3000}",
            "\u{200b}",
            "\u{1f600}",
            "\u{1689}",
            "\u{e020}",
        ];
        // A small deterministic generator, so a failure names a text that can be run again.
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for case in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let (mut r, len) = (seed, (seed % 40) as usize);
            let mut s = String::new();
            for _ in 0..len {
                r = r.rotate_left(5).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                // Mostly text that is ASCII but for a word here and there, as natural text is.
                let pick = (r >> 40) as usize % (alphabet.len() * 3);
                s.push_str(alphabet.get(pick).copied().unwrap_or(["a", "b", " "][pick % 3]));
            }
            let expected: Vec<&str> = s.split_whitespace().collect();
            assert_eq!(words(&s).collect::<Vec<_>>(), expected, "case {case}: {s:?}");
        }
    }

    #[test]
    fn space_bits_marks_exactly_ascii_whitespace() {
        // Every byte at every place, before a neighbour a carry out of it would turn into whitespace
        // (0x08 + 1 is a tab) or out of it (0x0d + 1 is not).
        for b in 0u8..=0xff {
            for next in [b'a', 0x08, 0x0d, 0x1f, 0xff] {
                for at in 0..8 {
                    let mut bytes = [b' '; 8];
                    bytes[at] = b;
                    bytes[(at + 1) % 8] = next;
                    let expected: u64 = (0..8)
                        .filter(|&i| bytes[i] == b' ' || (b'\t'..=b'\r').contains(&bytes[i]))
                        .map(|i| 1 << i)
                        .sum();
                    let v = u64::from_le_bytes(bytes);
                    assert_eq!(super::space_bits(v), expected, "byte {b:#x} at {at} before {next:#x}");
                }
            }
        }
    }

    #[test]
    fn ascii_lines_of_every_length_agree_with_split_whitespace() {
        // Word and space runs of varied lengths, across chunk and block edges, cut at every length.
        let text: String =
            (0..300).map(|i| if (i * 7 + i / 5) % 11 < 3 { [' ', '\t', '\n'][i % 3] } else { 'a' }).collect();
        for len in 0..text.len() {
            for from in [0, 1, 7] {
                let s = &text[from.min(len)..len];
                let expected: Vec<&str> = s.split_whitespace().collect();
                assert_eq!(words(s).collect::<Vec<_>>(), expected, "{s:?}");
            }
        }
        let full = "x".repeat(64);
        assert_eq!(words(&full).collect::<Vec<_>>(), [full.as_str()]);
    }
}
