"""BERT's text normalisation (HF's BasicTokenizer rules) in tf.text ops.

The `ElectraTokenizer` runs it before WordPiece; it has no Keras parts, so
it lives apart from the models.
"""
