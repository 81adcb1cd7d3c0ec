"""Checks Weir's models against scikit-learn's on the same data (the tests run it).

    python3 model_parity.py dataset iris|wine OUT.csv
        writes the features of a dataset scikit-learn ships, one comma-separated vector a line
    python3 model_parity.py naive-bayes TRAIN.tsv HELDOUT.tsv WEIR.jsonl
        trains MultinomialNB(alpha=1) on the same terms Weir counts; Weir's predictions for the held-out
        texts (`label<TAB>text` lines) must be the same label, record for record, with the same probability
    python3 model_parity.py kmeans POINTS.csv MODEL.json WEIR.jsonl
        runs KMeans (Lloyd, from Weir's k-means++ start, n_init=1, tol=0) on the same points; its centroids
        must be Weir's and every point in the same cluster

WEIR.jsonl holds one JSON record {"key", "value"} a line, in input order (`weir op test` output).
Prints what it compared; exits 1 on any difference.
"""
import json
import re
import sys

import numpy as np


def records(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip() and not l.startswith("#")]


def dataset(name, out):
    from sklearn import datasets
    x = {"iris": datasets.load_iris, "wine": datasets.load_wine}[name]().data
    with open(out, "w") as f:
        for row in x:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


def naive_bayes(train, heldout, weir):
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    def rows(path):
        with open(path) as f:
            return [l.rstrip("\n").split("\t", 1) for l in f if l.strip()]

    def terms(text):
        return re.findall(r"[^\W_]+", text.lower())

    train, heldout = rows(train), rows(heldout)
    vec = CountVectorizer(tokenizer=terms, lowercase=False, token_pattern=None)
    nb = MultinomialNB(alpha=1.0).fit(vec.fit_transform([t for _, t in train]), [l for l, _ in train])
    x = vec.transform([t for _, t in heldout])
    labels, probs = nb.predict(x), nb.predict_proba(x).max(axis=1)
    got = records(weir)
    assert len(got) == len(heldout), f"Weir labelled {len(got)} texts, {len(heldout)} held out"
    bad = [(i, g["key"], labels[i], g["value"], probs[i]) for i, g in enumerate(got)
           if g["key"] != labels[i] or abs(g["value"] - probs[i]) > 1e-9 * max(1.0, probs[i])]
    truth = [l for l, _ in heldout]
    acc = lambda pred: sum(p == t for p, t in zip(pred, truth)) / len(truth)
    print(f"naive-bayes: {len(got)} held-out texts, accuracy Weir {acc([g['key'] for g in got]):.3f}, "
          f"scikit-learn {acc(labels):.3f}; {len(bad)} differ")
    return bad


def kmeans(points, model, weir):
    from sklearn.cluster import KMeans
    x = np.loadtxt(points, delimiter=",", ndmin=2)
    with open(model) as f:
        m = json.load(f)
    init = np.array(m["init"])
    km = KMeans(n_clusters=len(init), init=init, n_init=1, algorithm="lloyd", tol=0.0, max_iter=300).fit(x)
    got = records(weir)
    assert len(got) == len(x), f"Weir assigned {len(got)} points, there are {len(x)}"
    bad = [(i, g["key"], int(km.labels_[i])) for i, g in enumerate(got) if int(g["key"]) != km.labels_[i]]
    centres = np.allclose(np.array(m["centroids"]), km.cluster_centers_, rtol=1e-9, atol=1e-9)
    if not centres:
        bad.append(("centroids", m["centroids"], km.cluster_centers_.tolist()))
    print(f"kmeans: {len(x)} points, k = {len(init)}, {km.n_iter_} scikit-learn iterations, "
          f"{m['iterations']} Weir iterations; {len(bad)} differ; centroids equal: {centres}")
    return bad


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    if what == "dataset":
        dataset(*args)
        sys.exit(0)
    bad = {"naive-bayes": naive_bayes, "kmeans": kmeans}[what](*args)
    for b in bad[:10]:
        print("differs:", b)
    sys.exit(1 if bad else 0)
