"""The model: loading a checkpoint, a GGUF file or the demo model into a :class:`~attributions.LanguageModel`.

- :mod:`.cache`: the local cache folder and atomic folder writes (imports no torch: the CLI parser uses it).
- :mod:`.demo`: fetching, checking and converting the demo model's GGUF.
- :mod:`.checks`: checks of folders, files and devices before transformers sees them.
- :mod:`.loading`: :func:`~.loading.load_model`.
"""
