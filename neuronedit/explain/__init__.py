"""What the located neurons do: vocabulary projection, top-activating contexts, bias view and tags."""

from .bias import BiasView, bias_views, wilson
from .cards import Explanation, NeuronCard, explain, explain_domains
from .contexts import Context, TopContexts, contexts_of, corpus_windows, top_contexts
from .html import card_html, cards_html, write_html
from .tags import GROUP_TERMS, PRONOUNS, Tagging, tag_neuron
from .vocab import FINAL_NORMS, VocabProjection, vocab_projection, write_out_logits

__all__ = [
    "FINAL_NORMS", "GROUP_TERMS", "PRONOUNS", "BiasView", "Context", "Explanation", "NeuronCard", "Tagging",
    "TopContexts", "VocabProjection", "bias_views", "card_html", "cards_html", "contexts_of", "corpus_windows",
    "explain", "explain_domains", "tag_neuron", "top_contexts", "vocab_projection", "wilson", "write_html",
    "write_out_logits",
]
