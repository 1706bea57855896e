"""Rate-distortion training (train.py is its command line).

    from lic_jax.training import TrainConfig, train_and_evaluate
    train_and_evaluate(TrainConfig(data="images/", steps=1000, arch="mlicpp"), "runs/a")

Modules: losses (the RD loss), state (train state, the two optimizers), input_pipeline
(grain: crops, flips, skips, resumable position), sharding (Mesh, multi-host), loop
(the jitted step, validation, checkpoints, logging), writers (JSONL, TensorBoard, tqdm).
"""
from lic_jax.training.loop import MODEL_SIZES, TrainConfig, TrainingError, train_and_evaluate

__all__ = ["MODEL_SIZES", "TrainConfig", "TrainingError", "train_and_evaluate"]
