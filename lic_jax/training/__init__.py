"""Rate-distortion training (train.py is its command line).

    from lic_jax.training import TrainConfig, train_and_evaluate
    train_and_evaluate(TrainConfig(data="images/", steps=1000, arch="mlicpp"), "runs/a")

Modules: config (TrainConfig, the model through the registry), state (train state, the
two optimizers), trainer (model, state and the jitted steps on a mesh), validation,
checkpointing (orbax checkpoints, resume, best/ and final/ model directories),
input_pipeline (grain: crops, flips, skips, resumable position), sharding (Mesh,
multi-host), writers (JSONL, TensorBoard, tqdm), loop (the loop). The RD loss is
`lic_jax.losses`.
"""
from lic_jax.training.config import TrainConfig, TrainingError
from lic_jax.training.loop import train_and_evaluate

__all__ = ["TrainConfig", "TrainingError", "train_and_evaluate"]
