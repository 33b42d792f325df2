"""gc.layers: Keras-style layers and the Sequential model over graphc graphs."""
