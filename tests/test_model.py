"""ActiveLearner: interface, query strategies, retraining policy, empty records."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit.screening.model import ActiveLearner, record_text

# Toy pool: includes talk about statins and cholesterol, excludes about software testing.
INC = ["statin therapy lowers LDL cholesterol in adults", "atorvastatin reduces cholesterol",
       "rosuvastatin trial on cholesterol and cardiovascular events"]
EXC = ["unit testing of software components", "a survey of regression testing tools",
       "software defects and code review", "mutation testing for java programs"]
POOL = INC + EXC + ["", "simvastatin and cholesterol outcomes", "fuzz testing of compilers"]


def trained(**kw):
    L = ActiveLearner(random_state=0, **kw).fit_features(POOL)
    return L.fit([0, 1, 3, 4], [1, 1, 0, 0])


@pytest.mark.parametrize("classifier", ["svm", "logistic", "nb"])
@pytest.mark.parametrize("char_weight", [0.6, 0.0])
def test_relevant_unlabelled_record_ranks_first(classifier, char_weight):
    L = trained(classifier=classifier, char_weight=char_weight)
    s = L.scores()
    assert s.shape == (len(POOL),)
    unl = [2, 5, 6, 7, 8, 9]
    # the two statin/cholesterol records outrank the software ones
    top2 = set(L.query_batch(unl, 2))
    assert top2 == {2, 8}
    assert L.query(unl) in (2, 8)


def test_uncertainty_picks_score_closest_to_boundary():
    L = trained(query="uncertainty")
    unl = np.array([2, 5, 6, 7, 8, 9])
    expect = int(unl[np.argmin(np.abs(L.scores()[unl]))])
    assert L.query(unl) == expect


def test_mixed_without_randomness_equals_max():
    a, b = trained(query="mixed", mix_random=0.0), trained(query="max")
    unl = [2, 5, 6, 7, 8, 9]
    assert a.query_batch(unl, 6) == b.query_batch(unl, 6)


def test_mixed_batches_have_no_repeats_and_are_seeded():
    unl = [2, 5, 6, 7, 8, 9]
    a = trained(query="mixed", mix_random=0.5).query_batch(unl, 6)
    b = trained(query="mixed", mix_random=0.5).query_batch(unl, 6)
    assert a == b and sorted(a) == unl


def test_one_class_gives_seeded_random_order():
    L1 = ActiveLearner(random_state=7).fit_features(POOL).fit([0], [1])
    L2 = ActiveLearner(random_state=7).fit_features(POOL).fit([0], [1])
    assert L1.model_ is None and not L1.scores().any()
    unl = list(range(1, len(POOL)))
    assert L1.query_batch(unl, 5) == L2.query_batch(unl, 5)
    assert set(L1.query_batch(unl, 5)) <= set(unl)


def test_empty_record_is_scored_and_queryable():
    L = trained()
    assert np.isfinite(L.scores()[7])
    assert L.query([7]) == 7


def test_retrain_policy():
    L = ActiveLearner(retrain_always_below=100, retrain_fraction=0.05)
    assert L.retrain_due(2, None)
    assert not L.retrain_due(50, 50)
    assert L.retrain_due(51, 50)             # below 100: after every decision
    assert not L.retrain_due(203, 200)       # 5 % of 203 -> every 11 decisions
    assert L.retrain_due(211, 200)
    # 5 % of 1052 = 52.6 -> 53 new labels needed
    assert not L.retrain_due(1052, 1000) and L.retrain_due(1053, 1000)


def test_record_text_and_bad_options():
    assert record_text("A title", None) == "A title"
    assert record_text("", "abs") == "abs"
    assert record_text(None, None) == ""
    with pytest.raises(ValueError):
        ActiveLearner(classifier="forest")
    with pytest.raises(ValueError):
        ActiveLearner(query="random")


def test_version_names_settings():
    assert ActiveLearner(classifier="nb", query="mixed", random_state=3).version == \
        "tfidf12w+c35+nb+pn100+simmax+mixed/rs3"
    assert ActiveLearner(sim_weight=0).version == "tfidf12w+c35+svm+pn100+max/rs0"
    assert ActiveLearner(presumed_negatives=0).version == "tfidf12w+c35+svm+simmax+max/rs0"


def test_set_features_matches_fit_features():
    a = trained()
    b = ActiveLearner(random_state=0).set_features(
        ActiveLearner().fit_features(POOL).X_).fit([0, 1, 3, 4], [1, 1, 0, 0])
    assert np.array_equal(a.scores(), b.scores())


def test_include_similarity_blend_dominates_early():
    """With a huge blend weight the order is that of cosine similarity to the includes,
    computed here independently with scikit-learn's cosine_similarity."""
    from sklearn.metrics.pairwise import cosine_similarity

    L = trained(sim_weight=1e9)
    X = L.X_
    ref = cosine_similarity(X, X[[0, 1]]).max(axis=1)
    unl = np.array([2, 5, 6, 7, 8, 9])
    got = L.query_batch(unl, 6)
    assert [int(unl[i]) for i in np.argsort(-ref[unl], kind="stable")][:2] == got[:2]
    assert set(got[:2]) == {2, 8}
    # scores keep the classifier's scale (the recall estimate calibrates them)
    assert np.array_equal(np.sort(L.scores()), np.sort(L.decision_))
    # uncertainty ignores the blend: it reads the classifier's margin
    U = trained(sim_weight=1e9, query="uncertainty")
    assert U.query(unl) == int(unl[np.argmin(np.abs(U.decision_[unl]))])


def test_blend_weight_decays_with_includes():
    # weight = sim_weight * h / (h + includes - 1): with h = 1e-9 it vanishes at 2 includes,
    # so the scores are the plain SVM's ranks, in the same order as its decision values
    L = trained(sim_weight=1.0, sim_halflife=1e-9)
    plain = trained(sim_weight=0)
    assert np.array_equal(np.argsort(-L.scores(), kind="stable"),
                          np.argsort(-plain.scores(), kind="stable"))


def test_blend_stops_below_min_weight():
    # with 2 includes the weight is h / (h + 1); below SIM_MIN_WEIGHT there is no blend and the
    # scores are the plain SVM's, even with a similarity order that differs from the model's
    from toolkit.screening.model import SIM_MIN_WEIGHT

    h = SIM_MIN_WEIGHT * 0.9
    a = trained(sim_weight=1.0, sim_halflife=h)
    assert np.array_equal(a.scores(), trained(sim_weight=0).scores())
    big = trained(sim_weight=1e9 / h, sim_halflife=h)  # same h, weight far above the floor
    assert not np.array_equal(big.scores(), trained(sim_weight=0).scores())


def test_losing_variants_are_not_options():
    """The variants measured and lost are gone from the learner (docs/screening_model.md)."""
    for option in ("features", "ensemble", "sim_kind", "svm_loss", "balance_ratio",
                   "word_max_df", "presumed_max_share", "sim_min_weight", "tol"):
        with pytest.raises(TypeError):
            ActiveLearner(**{option: None})
    assert ActiveLearner().version == "tfidf12w+c35+svm+pn100+simmax+max/rs0"


@pytest.mark.parametrize("docs", [
    POOL,
    ["Été  été\tÉTÉ x", "q\u00a0x  y", "", "ab abcdef-gh", "abcdef-gh (x)", "a"],
])
def test_char_grams_match_scikit_learn_char_wb(docs):
    """The fast character-gram TF-IDF is scikit-learn's char_wb vectorizer: same columns in the
    same order, same values up to rounding."""
    from toolkit.screening.model import char_vectorizer, char_wb_tfidf

    v = char_vectorizer()
    ref = v.fit_transform(docs)
    ref.sort_indices()
    got, grams = char_wb_tfidf(docs)
    assert list(grams) == list(v.get_feature_names_out())
    assert np.array_equal(got.indptr, ref.indptr) and np.array_equal(got.indices, ref.indices)
    assert np.allclose(got.data, ref.data, rtol=0, atol=1e-12)


def test_char_grams_none_shared_is_an_empty_block():
    from toolkit.screening.model import char_wb_tfidf

    with pytest.raises(ValueError):
        char_wb_tfidf(["abc", "xyz"])
    L = ActiveLearner().fit_features(["abc", "xyz", ""])  # words only are left
    assert L.X_.shape[0] == 3


def test_pool_without_terms_is_still_ranked():
    L = ActiveLearner().fit_features(["", "", "!!"])
    assert L.X_.shape == (3, 0)
    L.fit([0, 1], [1, 0])
    assert L.model_ is None and L.query([2]) == 2


def test_presumed_negatives_are_seeded_unlabelled_rows_labelled_0():
    """BMI: each fit adds up to ``presumed_negatives`` random unlabelled rows as excludes; the
    draw depends only on the random state and the labelled rows, and 0 turns it off."""
    pool = POOL * 30  # 270 rows
    L = ActiveLearner(random_state=4, presumed_negatives=100).fit_features(pool)
    idx, y = np.array([0, 1, 3, 4]), np.array([1, 1, 0, 0])
    it, yt = L.training_set(idx, y)
    assert it.size == 104 and yt.tolist() == [1, 1, 0, 0] + [0] * 100
    assert not set(it[4:].tolist()) & set(idx.tolist()) and len(set(it.tolist())) == 104
    again = ActiveLearner(random_state=4, presumed_negatives=100).fit_features(pool)
    assert np.array_equal(again.training_set(idx, y)[0], it)
    other = ActiveLearner(random_state=5, presumed_negatives=100).fit_features(pool)
    assert not np.array_equal(other.training_set(idx, y)[0], it)
    # a small pool gives what it has; none when nothing is unlabelled
    small = ActiveLearner(presumed_negatives=100).fit_features(POOL)
    assert small.training_set(idx, y)[0].size == len(POOL)
    assert small.training_set(np.arange(len(POOL)), np.zeros(len(POOL), int))[0].size == \
        len(POOL)
    off = ActiveLearner(presumed_negatives=0).fit_features(pool)
    assert off.training_set(idx, y)[0] is idx
