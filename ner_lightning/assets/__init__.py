"""Things from outside the project: Hugging Face encoders and tokenizers by name or folder (``pretrained``), and
offline assets built from installed pip packages (``offline``: the e5 encoder, LAC character vectors). Data and models
may import this package; it imports neither (only ``base`` and ``errors``)."""
