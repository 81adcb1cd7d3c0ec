//! Text helpers for operators that split text, tuned for the common all-ASCII case.

/// The words of `s`: the non-empty pieces between runs of Unicode whitespace, exactly as
/// [`str::split_whitespace`] gives them. An all-ASCII text (nearly every line) is split from bit masks
/// of its whitespace, eight bytes at a time, with no branch per byte; other text is decoded character by
/// character (a tokenizer spends most of its time here).
///
/// ```
/// let w: Vec<&str> = weir_sdk::text::words(" the\tquick\u{3000}brown  fox\n").collect();
/// assert_eq!(w, ["the", "quick", "brown", "fox"]);
/// let w: Vec<&str> = weir_sdk::text::words("to be or not to be").collect();
/// assert_eq!(w, ["to", "be", "or", "not", "to", "be"]);
/// ```
#[inline(always)]
pub fn words(s: &str) -> Words<'_> {
    if is_ascii(s.as_bytes()) {
        Words(Inner::Ascii(AsciiWords { s, base: 0, edges: 0, space_before: 1, start: 0, open: false }))
    } else {
        Words(Inner::Unicode(UnicodeWords { s, at: 0 }))
    }
}

/// Iterator returned by [`words`].
#[derive(Debug, Clone)]
pub struct Words<'a>(Inner<'a>);

#[derive(Debug, Clone)]
enum Inner<'a> {
    Ascii(AsciiWords<'a>),
    Unicode(UnicodeWords<'a>),
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a str;

    #[inline]
    fn next(&mut self) -> Option<&'a str> {
        match &mut self.0 {
            Inner::Ascii(w) => w.next(),
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

/// One bit per byte of `v` (eight ASCII bytes, little-endian): set where the byte is ASCII whitespace
/// (space, or `\t` to `\r`, as `char::is_whitespace` has it).
#[inline]
fn space_bits(v: u64) -> u64 {
    // Bytes are below 0x80, so no addition below carries into the next byte.
    let x = v ^ SPACES;
    let is_space = !(((x & !HIGH) + !HIGH) | x) & HIGH;
    let from_tab = (v + (0x80 - 0x09) * ONES) & HIGH;
    let from_so = (v + (0x80 - 0x0e) * ONES) & HIGH;
    let m = (is_space | (from_tab & !from_so)) >> 7;
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

/// Splits ASCII text: for each block of 64 bytes, a mask with a bit per whitespace byte (bytes past the
/// end count as whitespace); its set bits where the mask changes are word starts and ends, in turn.
#[derive(Debug, Clone)]
struct AsciiWords<'a> {
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

impl<'a> AsciiWords<'a> {
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
    /// the scan's work per word in Wasm): in ASCII text every index is a boundary.
    #[inline]
    fn word(&self, start: usize, end: usize) -> &'a str {
        debug_assert!(start <= end && end <= self.s.len());
        // SAFETY: the text is ASCII (`words` checked it), so any range within it is valid UTF-8, and
        // edges are positions in the text or its end, a word's start before its end.
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

impl<'a> Iterator for AsciiWords<'a> {
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
    fn space_bits_marks_exactly_ascii_whitespace() {
        for b in 0u8..0x80 {
            for at in 0..8 {
                let v =
                    (super::SPACES & !(0xff << (8 * at))) | (u64::from(b) << (8 * at)) ^ (0x41 << (8 * ((at + 1) % 8)));
                let expected: u64 = (0..8)
                    .filter(|&i| (v >> (8 * i)) as u8 == b' ' || (b'\t'..=b'\r').contains(&((v >> (8 * i)) as u8)))
                    .map(|i| 1 << i)
                    .sum();
                assert_eq!(super::space_bits(v), expected, "byte {b:#x} at {at}");
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
