"""TF-IDF feature blocks of the screening model, built fast from scikit-learn's own pieces.

``word_tfidf(docs)`` is ``word_vectorizer().fit_transform(docs)`` and ``char_wb_tfidf(docs)``
is ``char_vectorizer().fit_transform(docs)``: the same columns in the same order and the same
values up to rounding (tests compare them with the vectorizers). The vectorizers count grams in
a Python loop over every token of every record; here the tokens are made by the vectorizers' own
preprocessor and tokenizer, and counted with ``pandas.factorize`` (a hash table in C), so only
*distinct* grams are handled in Python. ``review simulate`` spends about a third of its time
building features, so this is where the speed is.
"""

from __future__ import annotations

from itertools import chain
from typing import Sequence

import numpy as np
import pandas as pd
from scipy.sparse import csr_matrix
from sklearn.feature_extraction.text import TfidfTransformer, TfidfVectorizer


def word_vectorizer(max_df: float = 1.0) -> TfidfVectorizer:
    """TF-IDF on word 1-2 grams with sublinear tf (the screening literature's standard).

    ``min_df=1`` keeps rare terms, which is where topic-specific vocabulary lives.
    """
    return TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1, max_df=max_df,
                           strip_accents="unicode")


def char_vectorizer() -> TfidfVectorizer:
    """TF-IDF on character 3-5 grams inside word boundaries, sublinear tf.

    Character grams match inflections, spelling variants and parts of compound or chemical names
    (``-pril``, ``-prazole``) that whole-word features miss; ``min_df=2`` drops grams seen once,
    which cannot connect two records. ``char_wb_tfidf`` computes the same matrix faster.
    """
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)


def _sorted_columns(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The features sorted by name (the vectorizers' column order), and the new column of each
    feature in ``names``."""
    order = np.array(sorted(range(len(names)), key=names.__getitem__), dtype=np.int64)
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return np.array(names, dtype=object)[order], rank


def _count_matrix(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> csr_matrix:
    """Record x feature counts from one (row, col) pair per occurrence, indices sorted."""
    C = csr_matrix((np.ones(rows.size, dtype=np.int64), (rows, cols)), shape=shape)
    C.sum_duplicates()  # also sorts the indices
    return C


def _char_wb_grams(word: str, lo: int, hi: int) -> list[str]:
    """The grams scikit-learn's ``char_wb`` analyzer cuts from one word (no white space in it):
    the word padded with a space each side, every ``lo``..``hi`` long slice; a padded word no
    longer than ``n`` is one gram, counted once, and ends the cutting."""
    w = " " + word + " "
    size = len(w)
    out: list[str] = []
    for n in range(lo, hi + 1):
        if size <= n:
            out.append(w)
            break
        out.extend([w[i:i + n] for i in range(size - n + 1)])
    return out


def _word_grams(words: list[str], lo: int, hi: int):
    """Every char_wb gram of every word, as ``(word index, gram code)`` per occurrence and the
    gram of each code (codes in order of first occurrence).

    Vectorised: the padded words are laid end to end as one array of character ids, and the
    ``n``-gram starting at each position is keyed by its ``n`` ids read as a number in base
    (alphabet size + 1); ids start at 1, so grams of different lengths never share a key. Only
    the distinct grams become strings. Alphabets too large for a 63-bit key (above ~6,000
    distinct characters for 5-grams) take the per-word path, ``_char_wb_grams``.
    """
    padded = [" " + w + " " for w in words]
    lens = np.fromiter(map(len, padded), dtype=np.int64, count=len(padded))
    text = "".join(padded)
    chars = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    alphabet, ids = np.unique(chars, return_inverse=True)
    base = alphabet.size + 1
    if base ** hi >= 2 ** 62:
        word_grams = [_char_wb_grams(w, lo, hi) for w in words]
        n_gram = np.fromiter(map(len, word_grams), dtype=np.int64, count=len(word_grams))
        codes, grams = pd.factorize(np.array(list(chain.from_iterable(word_grams)),
                                             dtype=object))
        return np.repeat(np.arange(len(words)), n_gram), codes, list(grams)
    ids = ids.astype(np.int64).ravel() + 1
    word_at = np.repeat(np.arange(len(words)), lens)
    left = np.repeat(np.cumsum(lens), lens) - np.arange(chars.size)  # chars left in the word
    key = np.zeros(chars.size, dtype=np.int64)
    occ_word, occ_key, occ_pos, occ_len = [], [], [], []
    for n in range(1, hi + 1):
        nxt = np.zeros(chars.size, dtype=np.int64)
        nxt[:chars.size - n + 1] = ids[n - 1:]
        key = key * base + nxt  # key of the n characters from each position on
        if n >= lo:
            ok = np.flatnonzero(left >= n)  # the gram lies inside one padded word
            occ_word.append(word_at[ok])
            occ_key.append(key[ok])
            occ_pos.append(ok)
            occ_len.append(np.full(ok.size, n))
    codes, keys = pd.factorize(np.concatenate(occ_key))
    first = np.empty(keys.size, dtype=np.int64)  # one occurrence of each gram
    first[codes[::-1]] = np.arange(codes.size)[::-1]
    pos, size = np.concatenate(occ_pos)[first], np.concatenate(occ_len)[first]
    grams = [text[p:p + n] for p, n in zip(pos.tolist(), size.tolist())]
    return np.concatenate(occ_word), codes, grams


def word_tfidf(docs: Sequence[str], max_df: float = 1.0):
    """The matrix of ``word_vectorizer(max_df).fit_transform(docs)`` and its terms, faster.

    Returns ``(X, terms)``: L2-normalised CSR rows, one column per word 1-2 gram in sorted
    order. Raises ``ValueError`` when no record has a word, as the vectorizer does.
    """
    vec = word_vectorizer(max_df)
    pre, tok = vec.build_preprocessor(), vec.build_tokenizer()
    toks = [tok(pre(d)) for d in docs]
    n_tok = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
    flat = list(chain.from_iterable(toks))
    if not flat:
        raise ValueError("empty vocabulary")
    codes, words = pd.factorize(np.array(flat, dtype=object))
    words = list(words)
    n_words = len(words)
    doc_of = np.repeat(np.arange(len(toks)), n_tok)
    # bigrams: two consecutive tokens of the same record, keyed by their two word codes
    same = doc_of[1:] == doc_of[:-1]
    key = codes[:-1][same].astype(np.int64) * n_words + codes[1:][same]
    bcodes, bkeys = pd.factorize(key)
    first, second = np.divmod(bkeys, n_words)
    names = words + [words[a] + " " + words[b] for a, b in zip(first.tolist(), second.tolist())]
    terms, col = _sorted_columns(names)
    rows = np.concatenate([doc_of, doc_of[:-1][same]])
    cols = col[np.concatenate([codes, n_words + bcodes])]
    C = _count_matrix(rows, cols, (len(toks), len(names)))
    # the vectorizer's max_df: an integer is a count of records, a float a share of them
    limit = max_df if isinstance(max_df, (int, np.integer)) else max_df * len(toks)
    keep = np.bincount(C.indices, minlength=C.shape[1]) <= limit
    if not keep.all():
        if not keep.any():
            raise ValueError("After pruning, no terms remain. Try a lower min_df or a higher "
                             "max_df.")
        C, terms = C[:, np.flatnonzero(keep)], terms[keep]
    return TfidfTransformer(sublinear_tf=True).fit_transform(C), terms


def char_wb_tfidf(docs: Sequence[str], ngram_range: tuple[int, int] = (3, 5),
                  min_df: int = 2):
    """The matrix of ``char_vectorizer().fit_transform(docs)`` and its grams, faster.

    ``char_wb`` cuts each white-space word of a record into grams, so a record's gram counts are
    the sum of its words': record x word counts times word x gram counts (each *distinct* word
    cut into grams once, by the vectorizer's own analyzer), then ``min_df`` and
    ``TfidfTransformer`` as the vectorizer applies them.

    Returns ``(X, grams)``: L2-normalised CSR rows and the gram of each column. Raises
    ``ValueError`` when no gram occurs in ``min_df`` records, as the vectorizer does.
    """
    toks = [d.lower().split() for d in docs]  # char_wb lower-cases, then splits on white space
    n_tok = np.fromiter(map(len, toks), dtype=np.int64, count=len(toks))
    flat = list(chain.from_iterable(toks))
    if not flat:
        raise ValueError("empty vocabulary")
    codes, words = pd.factorize(np.array(flat, dtype=object))
    D = _count_matrix(np.repeat(np.arange(len(toks)), n_tok), codes, (len(toks), len(words)))
    word_of, gcodes, grams = _word_grams(list(words), *ngram_range)
    grams, col = _sorted_columns(grams)
    G = _count_matrix(word_of, col[gcodes], (len(words), len(grams)))
    C = D @ G  # record x gram counts
    keep = np.flatnonzero(np.bincount(C.indices, minlength=C.shape[1]) >= min_df)  # doc. freq.
    if keep.size == 0:
        raise ValueError("no character gram occurs in min_df records")
    C = C[:, keep]
    C.sort_indices()
    return TfidfTransformer(sublinear_tf=True).fit_transform(C), grams[keep]
