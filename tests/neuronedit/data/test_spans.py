"""Character spans where two sentences of a pair differ (neuronedit.data.spans)."""

from __future__ import annotations

from neuronedit.data.spans import diff_char_spans


def test_diff_char_spans():
    more, less = "The nurse said that she was late.", "The nurse said that he was late."
    (span,) = diff_char_spans(more, less)
    assert more[span[0] : span[1]] == "she"
    more, less = "My Black neighbor is very loud.", "My White neighbor is very loud."
    assert [more[a:b] for a, b in diff_char_spans(more, less)] == ["Black"]
