"""Labels spelled in several tokens are read as a tree of branches: one per place where labels
that share their first tokens part."""

import pytest

from engine.label_questions import label_tree
from engine.mood_decision import decide_intent

# " order" "_status", " order" "_change", " returns", " other"
LABELS = [(10, 11), (10, 12), (20,), (30,)]


def test_labels_sharing_a_first_token_get_a_branch_that_tells_them_apart() -> None:
    tree = label_tree((1, 2), LABELS, start=1)
    first, parted = tree.branches
    assert first.suffix == (1, 2) and first.labels == (10, 20, 30) and first.parent is None
    assert parted.suffix == (10,) and parted.labels == (11, 12) and parted.parent == 1
    assert tree.paths == (((1, 0), (2, 0)), ((1, 0), (2, 1)), ((1, 1),), ((1, 2),))


def test_a_label_is_the_product_along_its_path() -> None:
    tree = label_tree((1,), LABELS, start=1)
    mood_branch = [0.5, 0.5]
    read = [mood_branch, [0.6, 0.3, 0.1], [0.25, 0.75]]
    assert tree.probabilities(read) == pytest.approx([0.15, 0.45, 0.3, 0.1])
    assert sum(tree.probabilities(read)) == pytest.approx(1.0)


def test_labels_that_cannot_be_told_apart_are_refused() -> None:
    with pytest.raises(ValueError, match="spelled the same"):
        label_tree((1,), [(10, 11), (10, 11)])
    with pytest.raises(ValueError, match="begin another"):
        label_tree((1,), [(10,), (10, 11)])
    with pytest.raises(ValueError, match="at least one token"):
        label_tree((1,), [(), (10,)])


def test_the_intent_is_the_most_probable_renormalised() -> None:
    intent = decide_intent({"returns": 0.6, "other": 0.2})
    assert intent is not None
    assert (intent.name, intent.confidence) == ("returns", pytest.approx(0.75))
    assert decide_intent({}) is None
