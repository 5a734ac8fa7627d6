"""Raw-string SavedModels for TF Serving."""

from keras_electra.export.serving_export import export_for_serving
