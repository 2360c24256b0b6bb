"""The fast TF-IDF blocks equal scikit-learn's vectorizers (same columns, same order, same values)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from toolkit.screening.features import (_char_wb_grams, _word_grams, char_vectorizer,
                                        char_wb_tfidf, word_tfidf, word_vectorizer)
from toolkit.screening.simulate import read_labelled_csv

FIXTURE = Path(__file__).resolve().parent / "data" / "screening" / "kitchenham_200.csv"
TRICKY = ["Été  été\tÉTÉ x", "q\u00a0x  y", "", "ab abcdef-gh", "abcdef-gh (x)", "a",
          "the cat the cat the cat", "!! ??", "naïve café naive cafe", "x1 x1 x1y x1"]
REAL = read_labelled_csv(FIXTURE).texts


def same_matrix(got, ref):
    ref = ref.tocsr()
    ref.sort_indices()
    got.sort_indices()
    return (got.shape == ref.shape and np.array_equal(got.indptr, ref.indptr)
            and np.array_equal(got.indices, ref.indices)
            and np.allclose(got.data, ref.data, rtol=0, atol=1e-12))


@pytest.mark.parametrize("docs", [TRICKY, REAL], ids=["tricky", "kitchenham_200"])
@pytest.mark.parametrize("max_df", [1.0, 0.5, 3])
def test_word_block_is_scikit_learns(docs, max_df):
    v = word_vectorizer(max_df)
    ref = v.fit_transform(docs)
    got, terms = word_tfidf(docs, max_df)
    assert list(terms) == list(v.get_feature_names_out())
    assert same_matrix(got, ref)


@pytest.mark.parametrize("docs", [TRICKY, REAL], ids=["tricky", "kitchenham_200"])
def test_char_block_is_scikit_learns(docs):
    v = char_vectorizer()
    ref = v.fit_transform(docs)
    got, grams = char_wb_tfidf(docs)
    assert list(grams) == list(v.get_feature_names_out())
    assert same_matrix(got, ref)


def test_empty_vocabularies_raise_as_the_vectorizers_do():
    for docs in (["", "!!"], ["a b", "c"]):  # no token of two word characters
        with pytest.raises(ValueError):
            word_vectorizer().fit_transform(docs)
        with pytest.raises(ValueError):
            word_tfidf(docs)
    with pytest.raises(ValueError):
        char_wb_tfidf(["", "   "])
    with pytest.raises(ValueError):  # no gram in two records
        char_wb_tfidf(["abc", "xyz"])


def test_word_grams_match_the_char_wb_analyzer():
    analyze = CountVectorizer(analyzer="char_wb", ngram_range=(3, 5)).build_analyzer()
    words = ["a", "ab", "abc", "abcd", "abcdefgh", "été", "x-y", "ﬁn"]
    for w in words:
        assert Counter(_char_wb_grams(w, 3, 5)) == Counter(analyze(w))
    word_of, codes, grams = _word_grams(words, 3, 5)
    for i, w in enumerate(words):
        mine = Counter(grams[c] for c, k in zip(codes, word_of) if k == i)
        assert mine == Counter(analyze(w)), w


def test_huge_alphabet_takes_the_per_word_path_with_the_same_result():
    # 7,000 distinct characters: a 5-gram key would not fit in 63 bits
    chars = [chr(0x4E00 + i) for i in range(7000)]
    assert (len(chars) + 2) ** 5 >= 2 ** 62
    docs = ["".join(chars[i:i + 6]) + " " + "".join(chars[i + 3:i + 9]) for i in range(0, 7000, 3)]
    v = char_vectorizer()
    ref = v.fit_transform(docs)
    got, grams = char_wb_tfidf(docs)
    assert list(grams) == list(v.get_feature_names_out())
    assert same_matrix(got, ref)


# Whitespace Python's str.split() and the vectorizers' regexes may treat differently (\x1c-\x1f,
# \x85, \u2028, \u3000, ...), combining accents, non-BMP letters, digits and underscores.
ALPHABET = list("abc ABC éÉ\u0301 \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2028\u2029\u3000_-.,'0123"
                "\U0001F600\U00010400\u00df\u0130\u01c5")


@pytest.mark.parametrize("seed", range(40))
def test_random_awkward_text_gives_the_vectorizers_columns_and_values(seed):
    rng = np.random.default_rng(seed)
    docs = ["".join(rng.choice(ALPHABET, size=rng.integers(0, 60)))
            for _ in range(rng.integers(2, 25))]
    for ours, ref in ((word_tfidf, word_vectorizer()), (char_wb_tfidf, char_vectorizer())):
        try:
            expected = ref.fit_transform(docs)
        except ValueError:  # empty vocabulary: ours must refuse too
            with pytest.raises(ValueError):
                ours(docs)
            continue
        got, cols = ours(docs)
        assert list(cols) == list(ref.get_feature_names_out())
        assert same_matrix(got, expected)
