#!/usr/bin/env python3
"""A second benchmark corpus, shaped like natural text rather than like the anchor corpus (issue 28).

    python3 scripts/gen-natural.py [FILES] [LINES_PER_FILE] [OUT_DIR]     (default 20 100000 target/bench/natural)

The anchor corpus has ten words a line, every word `w0`..`w99999`, ASCII, at most six bytes. This one has:
- words of 1 to 24 characters, most of them short (a log-normal length, as in English text);
- about 3 % of the vocabulary's words with non-ASCII letters: half Latin with accents, half CJK;
- word frequencies Zipf-distributed (s = 1.0) over a vocabulary of 200,000 words;
- 3 to 25 words a line, uniformly.
It is seeded, so every run writes the same files. Files are `part-NNNN.txt`, written whole then renamed,
as the anchor's `gen.py` does, and a summary (words, distinct words, mean bytes a word, non-ASCII share) is
printed at the end.
"""

import bisect
import itertools
import math
import os
import random
import sys

VOCABULARY = 200_000
NON_ASCII = 0.03
SEED = 2026_12_07
ACCENTED = "éèêëàâäôöûüùçñøåíóúß"
LATIN = "abcdefghijklmnopqrstuvwxyz"


def word_length(rng):
    """1 to 24 characters, mostly 3 to 8."""
    return max(1, min(24, round(rng.lognormvariate(math.log(5.0), 0.5))))


def make_word(rng, kind):
    n = word_length(rng)
    if kind == "cjk":
        # CJK words are short in characters (each is 3 bytes in UTF-8).
        return "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(max(1, min(n, 4))))
    letters = [rng.choice(LATIN) for _ in range(n)]
    if kind == "accented":
        for i in rng.sample(range(n), k=max(1, n // 4)):
            letters[i] = rng.choice(ACCENTED)
    return "".join(letters)


def vocabulary(rng):
    """Distinct words; the non-ASCII ones are spread over every frequency rank."""
    words, seen = [], set()
    while len(words) < VOCABULARY:
        r = rng.random()
        kind = "cjk" if r < NON_ASCII / 2 else "accented" if r < NON_ASCII else "ascii"
        w = make_word(rng, kind)
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def main():
    files = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    per_file = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    out = sys.argv[3] if len(sys.argv) > 3 else "target/bench/natural"
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)
    words = vocabulary(rng)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(words))))
    total = cumulative[-1]
    count, distinct, nbytes, non_ascii = 0, set(), 0, 0
    for f in range(files):
        lines = []
        for _ in range(per_file):
            k = rng.randint(3, 25)
            picks = [bisect.bisect_left(cumulative, rng.random() * total) for _ in range(k)]
            line = [words[min(p, len(words) - 1)] for p in picks]
            lines.append(" ".join(line))
            count += k
            distinct.update(picks)
            for w in line:
                b = len(w.encode())
                nbytes += b
                non_ascii += b != len(w)
        path = os.path.join(out, f"part-{f:04d}.txt")
        with open(path + ".tmp", "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")
        os.replace(path + ".tmp", path)
    print(
        f"{files * per_file} lines, {count} words, {len(distinct)} distinct, "
        f"{nbytes / count:.1f} bytes a word, {100 * non_ascii / count:.1f} % of words non-ASCII, in {out}"
    )


if __name__ == "__main__":
    main()
