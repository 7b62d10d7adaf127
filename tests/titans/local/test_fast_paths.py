"""The model's inference fast paths compute exactly what sklearn's own methods compute.

``linear_decision`` and ``lr_proba`` skip sklearn's per-call input validation (most of a single
ticket's model time); these tests fit real sklearn models and compare on sparse and dense
inputs, two-class and multi-class."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from titans.local.classifier import linear_decision, lr_proba

from .conftest import synthetic_tickets


@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize("sparse", [False, True])
def test_fast_paths_match_sklearn(n_classes: int, sparse: bool) -> None:
    rng = np.random.default_rng(n_classes)
    x = rng.normal(size=(200, 30)).astype(np.float32)
    x[x < 0.5] = 0.0  # mostly zeros, like tf-idf rows
    y = rng.integers(0, n_classes, size=200)
    x[np.arange(200), y] += 2.0  # learnable
    data = sp.csr_matrix(x) if sparse else x
    probe = data[:17]
    svm = LinearSVC(C=0.5).fit(data, y)
    np.testing.assert_allclose(linear_decision(svm, probe), svm.decision_function(probe), rtol=1e-6, atol=1e-9)
    lr = LogisticRegression(C=2.0, max_iter=500).fit(data, y)
    ours, theirs = lr_proba(lr, probe), lr.predict_proba(probe)
    assert ours.shape == theirs.shape == (17, n_classes)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)
    assert (ours.argmax(axis=1) == lr.predict(probe)).all()


def test_featurizer_fast_path_matches_sklearn_transform() -> None:
    """A few texts go through our own tf-idf loop; it must equal sklearn's transform, including
    unknown words, repeated words, empty text and text with no known n-gram."""
    from titans.local.classifier import ClassifierConfig, TicketFeaturizer

    corpus = [
        "outlook asks for my password again",
        "printer on floor two is offline",
        "vpn drops every few minutes from home",
        "need access to the finance share",
        "laptop screen flickers after the update",
        "password reset for the vpn account",
    ] * 3
    featurizer = TicketFeaturizer(ClassifierConfig()).fit(corpus)
    probes = [
        "Outlook password password password prompt",
        "",
        "zzz qqq",
        "the printer and the vpn are both offline again today",
    ]
    fast = featurizer.transform(probes)
    slow = sp.hstack(
        [featurizer.word.transform(probes), featurizer.char.transform(probes)], format="csr"
    )
    assert fast.shape == slow.shape and fast.dtype == slow.dtype
    np.testing.assert_allclose(fast.toarray(), slow.toarray(), rtol=1e-6, atol=1e-7)
    many = featurizer.transform(probes * 5)  # above the fast-path size: sklearn's own path
    np.testing.assert_allclose(many.toarray()[: len(probes)], fast.toarray(), rtol=1e-6, atol=1e-7)


def test_the_title_block_fast_path_matches_sklearn_and_is_absent_without_titles() -> None:
    """Tickets with a title and a description get a third block, word n-grams of the title; the
    few-texts loop must equal sklearn's transform for it too. Texts without titles (one part,
    like it_tickets) get no such block: the features are exactly the word and char blocks."""
    from titans.local.classifier import ClassifierConfig, TicketFeaturizer
    from titans.local.textprep import ticket_text, title_of

    pairs = [
        ("Outlook password prompt", "asks for my password again"),
        ("Printer offline", "printer on floor two is offline"),
        ("VPN drops", "vpn drops every few minutes from home"),
        ("Share access", "need access to the finance share"),
    ] * 3
    corpus = [ticket_text(t, d) for t, d in pairs] + ["a text with no title at all"]
    featurizer = TicketFeaturizer(ClassifierConfig())
    x = featurizer.fit_transform(corpus)
    assert featurizer.title is not None and "printer offline" in featurizer.title.vocabulary_
    widths = [len(v.vocabulary_) for v in (featurizer.word, featurizer.char, featurizer.title)]
    assert x.shape == (len(corpus), sum(widths))
    probes = [
        ticket_text("VPN offline", "since the update the vpn is offline"),
        ticket_text("zzz", "qqq"),
        "no title here",
        "",
    ]
    fast = featurizer.transform(probes)
    slow = sp.hstack(
        [
            featurizer.word.transform(probes),
            featurizer.char.transform(probes),
            featurizer.title.transform([title_of(p) for p in probes]),
        ],
        format="csr",
    )
    assert fast.shape == slow.shape
    np.testing.assert_allclose(fast.toarray(), slow.toarray(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(
        featurizer.transform(probes * 5).toarray()[: len(probes)], fast.toarray(), atol=1e-7
    )
    title_cols = fast.toarray()[:, widths[0] + widths[1] :]
    assert title_cols[0].any() and not title_cols[2].any() and not title_cols[3].any()

    plain = TicketFeaturizer(ClassifierConfig())
    x_plain = plain.fit_transform([t for t, _ in pairs])  # titles only: one part each
    assert plain.title is None
    assert x_plain.shape[1] == len(plain.word.vocabulary_) + len(plain.char.vocabulary_)
    off = TicketFeaturizer(ClassifierConfig(title_features=False))
    assert off.fit_transform(corpus).shape[1] == widths[0] + widths[1] and off.title is None


def test_featurizer_pickled_before_the_fast_path_still_transforms() -> None:
    """Models on disk were pickled without the fast path's cache attribute."""
    import pickle

    from titans.local.classifier import ClassifierConfig, TicketFeaturizer

    featurizer = TicketFeaturizer(ClassifierConfig()).fit(["printer offline", "vpn drops"] * 3)
    state = featurizer.__getstate__()
    del state["_fast"]  # what an older model's pickle holds (no fast path, no title block)
    del state["title"]
    old = TicketFeaturizer.__new__(TicketFeaturizer)
    old.__setstate__(state)
    restored = pickle.loads(pickle.dumps(old))
    assert restored.transform(["printer offline"]).nnz > 0


def test_top_words_are_the_largest_coefficient_times_tfidf_word_columns() -> None:
    """The explanation reads the row's stored values instead of indexing columns; it must name
    the same words, in the same order, as the plain dense computation, for every class, on the
    fast path's rows (a few texts) and on sklearn's (many)."""
    from titans.local.classifier import ClassifierConfig
    from titans.local.model import TriageModel

    model = TriageModel.train(
        "t1",
        synthetic_tickets(160, seed=5),
        embeddings=None,
        config=ClassifierConfig(use_embeddings=False),
    )
    head = model.heads["category"]
    names = model.featurizer.word_names()
    n_word = model.featurizer.n_word_features
    probes = ["printer toner jam and outlook inbox", "vpn wifi router down", "zzz", "laptop"]
    checked = 0
    for rows in (model.featurizer.transform(probes), model.featurizer.transform(probes * 20)):
        for i in range(len(probes)):
            dense = rows[i].toarray().ravel()[:n_word]
            for c in range(len(head.classes)):
                weights = head.svm.coef_[c][:n_word]
                contrib = weights * dense
                nonzero = np.flatnonzero(dense)
                order = nonzero[np.argsort(-contrib[nonzero], kind="stable")][:5]
                expected = [str(names[j]) for j in order if contrib[j] > 0]
                got = head.top_words(rows[i], c, n_word, names)
                assert got == expected
                checked += bool(expected)
    assert checked >= 10  # the probes do carry words the model weighs


@pytest.mark.parametrize("large_corpus", [10_000, 50])  # min_df 1, and min_df 2 (rare n-grams cut)
def test_fit_transform_is_fit_then_transform_in_one_pass(large_corpus: int) -> None:
    """Training featurises its texts with ``fit_transform`` (one n-gram analysis instead of two);
    the matrix and the learned vocabularies must be exactly what ``fit`` then ``transform`` give."""
    from titans.local.classifier import ClassifierConfig, TicketFeaturizer

    texts = [r.text for r in synthetic_tickets(120, seed=11)] + ["a one-off word: zebrafish"]
    config = ClassifierConfig(large_corpus=large_corpus)
    one = TicketFeaturizer(config)
    x_one = one.fit_transform(texts)
    two = TicketFeaturizer(config).fit(texts)
    x_two = two.transform(texts)
    assert one.word.vocabulary_ == two.word.vocabulary_
    assert one.char.vocabulary_ == two.char.vocabulary_
    assert ("zebrafish" in one.word.vocabulary_) == (large_corpus > len(texts))
    assert x_one.shape == x_two.shape and x_one.dtype == x_two.dtype
    assert (x_one != x_two).nnz == 0
    # and the featurizer fitted this way serves a few texts on the fast path as before
    few = one.transform(texts[:3]).toarray()
    np.testing.assert_allclose(few, x_two[:3].toarray(), rtol=1e-6, atol=1e-7)
