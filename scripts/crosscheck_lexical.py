#!/usr/bin/python3
"""The Python side of scripts/crosscheck-lexical.ts: reads the split and our
numbers from the JSON file given, recomputes them with scikit-learn's
TfidfVectorizer (the same tokens: NFKC, lower case, split on what is not a
letter or digit) and with a BM25 loop of its own (Lucene's idf, k1 1.2, b
0.75), and prints the largest differences. Exit 1 past a tolerance."""
import json
import math
import re
import sys
import unicodedata

import numpy as np
from sklearn import __version__ as sklearn_version
from sklearn.feature_extraction.text import TfidfVectorizer

d = json.load(open(sys.argv[1]))


def tokens(text):
    return [t for t in re.split(r"[\W_]+", unicodedata.normalize("NFKC", text).lower()) if t]


ok = True

# TF-IDF cosines of the STS pairs (our vectors are float32).
vec = TfidfVectorizer(tokenizer=tokens, lowercase=False, token_pattern=None)
X = vec.fit_transform(d["s1"] + d["s2"])
n = len(d["s1"])
cos = np.asarray(X[:n].multiply(X[n:]).sum(axis=1)).ravel()
diff = float(np.abs(cos - np.array(d["stsCosines"])).max())
same_vocab = sorted(vec.vocabulary_) == d["stsTerms"]
print(f"scikit-learn {sklearn_version} TfidfVectorizer, STS: vocabulary identical {same_vocab} ({len(vec.vocabulary_)} terms), max |cosine difference| {diff:.2e}")
ok &= same_vocab and diff < 1e-6

# max_features: the same kept terms, up to ties in count at the cut (scikit-learn orders them arbitrarily).
vec_k = TfidfVectorizer(tokenizer=tokens, lowercase=False, token_pattern=None, max_features=d["maxFeatures"])
vec_k.fit(d["clusterTexts"])
theirs, ours = set(vec_k.vocabulary_), set(d["clusterTerms"])
counts = {}
for t in d["clusterTexts"]:
    for w in tokens(t):
        counts[w] = counts.get(w, 0) + 1
cut = min(counts[w] for w in ours)
outside_ties = [w for w in theirs ^ ours if counts[w] != cut]
print(f"max_features {d['maxFeatures']}: {len(theirs ^ ours)} terms differ, all with the count at the cut ({cut}): {not outside_ties}")
ok &= not outside_ties

# BM25, our own loop.
docs = [tokens(x) for x in d["corpus"]]
N = len(docs)
avgdl = sum(map(len, docs)) / N
df = {}
for doc in docs:
    for t in set(doc):
        df[t] = df.get(t, 0) + 1
tf = [{} for _ in docs]
for i, doc in enumerate(docs):
    for t in doc:
        tf[i][t] = tf[i].get(t, 0) + 1
scores = np.zeros((len(d["queries"]), N))
for qi, q in enumerate(d["queries"]):
    for t in tokens(q):
        if t not in df:
            continue
        idf = math.log(1 + (N - df[t] + 0.5) / (df[t] + 0.5))
        for i in range(N):
            c = tf[i].get(t, 0)
            if c:
                scores[qi, i] += idf * c * 2.2 / (c + 1.2 * (0.25 + 0.75 * len(docs[i]) / avgdl))
diff = float(np.abs(scores.ravel() - np.array(d["bm25"])).max())
print(f"BM25 over {len(d['queries'])} queries x {N} documents: max |score difference| {diff:.2e} (largest score {scores.max():.2f})")
ok &= diff < 1e-9

sys.exit(0 if ok else 1)
