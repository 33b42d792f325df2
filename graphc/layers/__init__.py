"""gc.layers: Keras-style layers and the Sequential model over graphc graphs.

    model = gc.layers.Sequential([gc.layers.Dense(64, activation="relu"), gc.layers.Dense(10)])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=10, batch_size=32)
    model.evaluate(x_test, y_test)          # [loss, accuracy]
    model.save("digits.gcmodel"); model = gc.layers.load_model("digits.gcmodel")

Callbacks (Keras's): ``fit(..., callbacks=[gc.layers.callbacks.EarlyStopping(patience=3)])``.

Layers also work on their own in TF1-style graphs: ``h = gc.layers.Dense(64, "relu")(x)``.
"""
from .base import Layer, get_activation, set_seed
from .conv import AvgPool2D, Conv2D, Conv2DTranspose, MaxPool2D
from .core import Dense, Dropout, Embedding, Flatten, LayerNorm
from .normalization import BatchNormalization
from . import callbacks
from .callbacks import (Callback, CSVLogger, EarlyStopping, History, LambdaCallback, ModelCheckpoint,
                        ReduceLROnPlateau, TerminateOnNaN)
from .model_file import load_model
from .plot import plot_history
from .sequential import Sequential
from .tensorboard import TensorBoard

__all__ = ["Layer", "Dense", "Conv2D", "Conv2DTranspose", "BatchNormalization", "MaxPool2D", "AvgPool2D", "Flatten", "Dropout", "LayerNorm", "Embedding",
           "Sequential", "History", "load_model", "plot_history", "get_activation", "set_seed", "callbacks", "Callback", "CSVLogger",
           "EarlyStopping", "LambdaCallback", "ModelCheckpoint", "ReduceLROnPlateau", "TerminateOnNaN", "TensorBoard"]
